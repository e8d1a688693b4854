"""Settings: one-line errors that name the variable, unknown variables, what is in effect;
`streamproc settings` and `streamproc --version`."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from streamproc.cli import main
from streamproc.settings import (
    Settings,
    SettingsError,
    load_settings,
    settings_in_effect,
    unknown_variables,
)


def test_a_wrong_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_PARTITIONS", "abc")
    monkeypatch.setenv("STREAMPROC_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == (
        "STREAMPROC_PARTITIONS='abc': input should be a valid integer, unable to parse string "
        "as an integer; STREAMPROC_LOG_FORMAT='xml': input should be 'text' or 'json'"
    )


def test_unknown_variables_suggest_the_near_setting() -> None:
    environ = {
        "STREAMPROC_BROKER": "kafka:9092",
        "streamproc_partitions": "3",  # settings are read case-insensitively
        "STREAMPROC_PARTITONS": "3",
        "STREAMPROC_SHINY": "1",
        "PATH": "/bin",
    }
    assert unknown_variables(environ) == [
        "STREAMPROC_PARTITONS is not a setting and is ignored; did you mean STREAMPROC_PARTITIONS?",
        "STREAMPROC_SHINY is not a setting and is ignored (see `streamproc settings`)",
    ]


def test_settings_in_effect_name_their_source_and_mask_secrets() -> None:
    environ = {"STREAMPROC_PARTITIONS": "12", "STREAMPROC_SASL_PASSWORD": "hunter2"}
    settings = load_settings(partitions=12, sasl_password="hunter2")
    rows = {
        variable: (value, source)
        for variable, value, source in settings_in_effect(settings, environ)
    }
    assert rows["STREAMPROC_PARTITIONS"] == ("12", "environment")
    assert rows["STREAMPROC_BROKER"] == ("127.0.0.1:9092", "default")
    assert rows["STREAMPROC_SASL_PASSWORD"] == ("**********", "environment")
    assert rows["STREAMPROC_WEB_TOKEN"] == ("", "default")
    assert rows["STREAMPROC_METRICS"] == ("true", "default")
    assert "hunter2" not in repr(rows)


def _one_error(result: Any, expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: {expected}\n"


def test_schemas_that_cannot_be_written_are_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["schemas", "--out", str(blocker / "schemas")])
    _one_error(
        result, f"--out {blocker / 'schemas'}: cannot write the schemas there: Not a directory"
    )


def test_version_comes_from_the_installed_package() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"streamproc, version {importlib.metadata.version('streamproc')}\n"


def test_settings_prints_every_setting_with_its_source_and_masks_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMPROC_PARTITIONS", "12")
    monkeypatch.setenv("STREAMPROC_WEB_TOKEN", "hunter2")
    monkeypatch.setenv("STREAMPROC_REPLICATON", "3")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0
    lines = {line.split("=")[0]: line for line in result.stdout.splitlines()}
    assert lines["STREAMPROC_PARTITIONS"].split() == [
        "STREAMPROC_PARTITIONS=12",
        "#",
        "environment",
    ]
    assert lines["STREAMPROC_BROKER"].split() == [
        "STREAMPROC_BROKER=127.0.0.1:9092",
        "#",
        "default",
    ]
    assert lines["STREAMPROC_WEB_TOKEN"].split() == [
        "STREAMPROC_WEB_TOKEN=**********",
        "#",
        "environment",
    ]
    assert len(lines) == len(Settings.model_fields) and "hunter2" not in result.output
    assert result.stderr == (
        "warning: STREAMPROC_REPLICATON is not a setting and is ignored; did you mean "
        "STREAMPROC_REPLICATION?\n"
    )


def test_settings_with_a_wrong_value_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_WEB_PORT", "70000")
    result = CliRunner().invoke(main, ["settings"])
    _one_error(result, "STREAMPROC_WEB_PORT='70000': input should be less than or equal to 65535")
