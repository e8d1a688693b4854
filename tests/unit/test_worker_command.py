"""`streamproc worker` refuses bad settings with a readable error, before touching Kafka."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from streamproc.cli import main


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("STREAMPROC_EVENT_LOOP", "trio", "event_loop"),
        ("STREAMPROC_PARTITIONS", "0", "partitions"),
    ],
)
def test_a_wrong_setting_stops_the_worker_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: a STREAMPROC_* setting is wrong")
    assert named in result.stderr
    assert "Traceback" not in result.output
