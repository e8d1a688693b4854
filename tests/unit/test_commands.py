"""What a user meets on the command line: one line on stderr and exit status 1, before the
work, for every mistake that can be known then; progress only on a terminal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import streamproc.backtest.cli
import streamproc.cli_support
import streamproc.simulation_cli
from streamproc.backtest.sources import ReadProgress
from streamproc.cli import main

SHIPPED_DEFAULT = Path(streamproc.backtest.cli.__file__).parents[1] / (
    "definitions/shipped/default.yaml"
)


def _one_error(result: Any, expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: {expected}\n"


def _no_work(*_args: object, **_kwargs: object) -> Any:
    raise AssertionError("the work started before the mistake was reported")


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_text("")
    return path


def test_a_definition_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    text = SHIPPED_DEFAULT.read_text().replace("name: default", "name: défaut")
    path.write_bytes(text.encode("latin-1"))
    line = text.splitlines().index("name: défaut") + 1
    result = CliRunner().invoke(main, ["check-definition", str(path)])
    _one_error(result, f"{path}: line {line}: not UTF-8 text (byte 0xe9); save the file as UTF-8")


def test_a_wrong_setting_stops_the_backtest_in_one_line(
    monkeypatch: pytest.MonkeyPatch, history: Path
) -> None:
    monkeypatch.setenv("STREAMPROC_PARTITIONS", "abc")
    result = CliRunner().invoke(
        main, ["backtest", "--definition", "default", "--events", str(history)]
    )
    _one_error(
        result,
        "STREAMPROC_PARTITIONS='abc': input should be a valid integer, unable to parse "
        "string as an integer",
    )


def test_the_json_output_is_checked_before_the_replay(
    monkeypatch: pytest.MonkeyPatch, history: Path, tmp_path: Path
) -> None:
    monkeypatch.setattr(streamproc.backtest.cli, "_in_this_process", _no_work)
    arguments = ["backtest", "--definition", "default", "--events", str(history), "--jobs", "1"]
    result = CliRunner().invoke(main, [*arguments, "--json", "/nonexistent/f.json"])
    _one_error(result, "--json /nonexistent/f.json: there is no directory /nonexistent")
    result = CliRunner().invoke(main, [*arguments, "--json", str(tmp_path)])
    _one_error(result, f"--json {tmp_path}: is a directory")


def test_the_generate_output_is_checked_before_the_history_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streamproc.simulation_cli, "deliveries", _no_work)
    result = CliRunner().invoke(main, ["generate", "--out", "/nonexistent/h.jsonl"])
    _one_error(result, "--out /nonexistent/h.jsonl: there is no directory /nonexistent")


@pytest.mark.parametrize(
    ("given", "since"),
    [
        ("2026-08-01", datetime(2026, 8, 1, tzinfo=UTC)),
        ("2026-08-01T09:30", datetime(2026, 8, 1, 9, 30, tzinfo=UTC)),
        ("2026-08-01T09:30:00Z", datetime(2026, 8, 1, 9, 30, tzinfo=UTC)),
        (
            "2026-08-01T09:30:00+02:00",
            datetime(2026, 8, 1, 9, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_since_is_utc_unless_it_has_an_offset(
    monkeypatch: pytest.MonkeyPatch, given: str, since: datetime
) -> None:
    asked: list[datetime | None] = []

    def read_topics(_settings: object, since: datetime | None) -> tuple[Iterator[Any], Any]:
        asked.append(since)
        return iter([]), ReadProgress(total=0, unit="records")

    monkeypatch.setattr(streamproc.backtest.cli, "read_topics", read_topics)
    arguments = ["--definition", "default", "--events", "kafka://kafka:9092", "--since", given]
    result = CliRunner().invoke(main, ["backtest", *arguments])
    assert result.exit_code == 0, result.output
    [taken] = asked
    assert taken is not None and taken.utcoffset() == since.utcoffset() and taken == since


def test_since_says_it_selects_by_kafka_record_time() -> None:
    help_text = " ".join(CliRunner().invoke(main, ["backtest", "--help"]).output.split())
    assert "by their Kafka record time" in help_text
    assert "UTC unless it has an offset" in help_text


def test_compare_refuses_a_changed_definition_that_kept_its_version(
    tmp_path: Path, history: Path
) -> None:
    changed = tmp_path / "changed.yaml"
    changed.write_text(SHIPPED_DEFAULT.read_text().replace("threshold: 60", "threshold: 70"))
    arguments = ["backtest", "--definition", "default", "--events", str(history)]
    result = CliRunner().invoke(main, [*arguments, "--compare", str(changed)])
    _one_error(
        result,
        f"default and {changed} differ but are both default@1; bump `version` in the changed "
        "one so that the comparison and the events tell them apart",
    )
    same = tmp_path / "same.yaml"
    same.write_text(SHIPPED_DEFAULT.read_text())
    result = CliRunner().invoke(main, [*arguments, "--jobs", "1", "--compare", str(same)])
    assert result.exit_code == 0, result.output


def progress_at_once(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> None:
    """Stderr is a terminal or not, and progress lines are due at every chance."""
    monkeypatch.setattr(streamproc.cli_support, "stderr_is_terminal", lambda: terminal)
    monkeypatch.setattr(streamproc.cli_support, "PROGRESS_EVERY_SECONDS", 0.0)


@pytest.mark.parametrize("terminal", [True, False])
def test_generate_shows_progress_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, terminal: bool
) -> None:
    progress_at_once(monkeypatch, terminal)
    out = tmp_path / "history.jsonl"
    result = CliRunner().invoke(
        main, ["generate", "--leads", "3", "--days", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    if terminal:
        assert "\rgenerating: 1 of 3 leads (33%), " in result.stderr
        last = result.stderr.rsplit("\r", 1)[-1]
        assert re.fullmatch(r"generated \d+ events of 3 leads in \d+\.\d s *\n", last)
    else:
        assert result.stderr == ""
    assert out.read_bytes().count(b"\n") > 0


@pytest.mark.parametrize("terminal", [True, False])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_backtest_shows_progress_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, terminal: bool, jobs: str
) -> None:
    progress_at_once(monkeypatch, terminal)
    history = tmp_path / "history.jsonl"
    generated = CliRunner().invoke(
        main, ["generate", "--leads", "40", "--days", "3", "--out", str(history)]
    )
    assert generated.exit_code == 0, generated.output
    result = CliRunner().invoke(
        main,
        ["backtest", "--definition", "default", "--events", str(history), "--jobs", jobs],
    )
    assert result.exit_code == 0, result.output
    if terminal:
        last = result.stderr.rsplit("\r", 1)[-1]
        assert re.fullmatch(r"replayed \d+ events in \d+\.\d s *\n", last), result.stderr
    else:
        assert "\r" not in result.stderr
