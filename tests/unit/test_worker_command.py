"""`streamproc worker` refuses bad settings with a readable error, before touching Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from streamproc.cli import main
from tests.unit.test_definitions import SHIPPED_DEFAULT


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("STREAMPROC_EVENT_LOOP", "trio", "input should be 'uvloop' or 'asyncio'"),
        ("STREAMPROC_PARTITIONS", "0", "input should be greater than or equal to 1"),
    ],
)
def test_a_wrong_setting_stops_the_worker_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1
    assert result.stderr == f"error: {variable}='{value}': {message}\n"
    assert "Traceback" not in result.output


def test_the_worker_warns_about_a_variable_that_is_no_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMPROC_PARTITONS", "12")
    monkeypatch.setenv("STREAMPROC_EVENT_LOOP", "trio")  # stops it before Kafka
    result = CliRunner().invoke(main, ["worker"])
    assert result.stderr.splitlines()[0] == (
        "warning: STREAMPROC_PARTITONS is not a setting and is ignored; "
        "did you mean STREAMPROC_PARTITIONS?"
    )
    assert result.exit_code == 1


def test_a_shadow_that_differs_from_the_live_definition_under_its_label_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    changed = tmp_path / "default-changed.yaml"
    changed.write_text(SHIPPED_DEFAULT.replace("threshold: 60", "threshold: 65"))
    monkeypatch.setenv("STREAMPROC_SHADOW_DEFINITION", str(changed))
    monkeypatch.setenv("STREAMPROC_BROKER", "127.0.0.1:1")  # never reached: refused before
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: default and {changed} differ but are both default@1; bump `version` in the "
        "changed one so that the comparison and the events tell them apart\n"
    )
