"""`streamproc erase`: the request it produces, and one line on stderr for what goes wrong."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from streamproc.cli import main
from streamproc.erase_cli import erasure_request
from streamproc.streaming.codec import decode_input, encode
from tests.builders import at


def test_the_request_names_the_lead_the_time_and_who_asked() -> None:
    request = erasure_request("lead-42", "privacy-desk", at())
    assert orjson.loads(encode(request)) == {
        "event_id": request.event_id,
        "lead_id": "lead-42",
        "requested_at": "2026-03-02T09:00:00Z",
        "requested_by": "privacy-desk",
    }
    assert request.event_id != erasure_request("lead-42", None, at()).event_id
    assert decode_input("lead-erasures", b"lead-42", encode(request)) == request


def test_an_empty_lead_id_is_one_line_before_any_connection() -> None:
    result = CliRunner().invoke(main, ["erase", " "])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: cannot request the erasure of ' ': lead_id: string should have at least 1 "
        "character\n"
    )


def test_no_broker_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_BROKER", "127.0.0.1:1")
    result = CliRunner().invoke(main, ["erase", "lead-42"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: nothing listens at broker 127.0.0.1:1 (PLAINTEXT): is Kafka running, and is "
        "the address right?\n"
    )
