"""Decoding input messages: each kind of bad input gets a sentence a person understands."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from streamproc.domain.events import PageVisited, ProfileUpdated
from streamproc.streaming.codec import InputError, decode_input, encode
from streamproc.streaming.deadletters import dead_letter

VISIT = {
    "event_id": "e1",
    "lead_id": "L1",
    "occurred_at": "2026-03-01T10:00:00+02:00",
    "url": "/pricing",
}


def test_a_valid_message_decodes_to_its_event() -> None:
    event = decode_input("page-visits", b"L1", orjson.dumps({**VISIT, "new_field": 1}))
    assert isinstance(event, PageVisited)
    assert event.occurred_at == datetime(2026, 3, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("topic", "key", "value", "sentence"),
    [
        ("page-visits", b"L1", b"{not json", "the value on page-visits is not valid JSON"),
        ("page-visits", b"L1", None, "the message on page-visits has no value"),
        (
            "page-visits",
            b"L1",
            orjson.dumps({**VISIT, "url": None}),
            "not a valid PageVisited: url: input should be a valid string",
        ),
        (
            "page-visits",
            b"L1",
            orjson.dumps({k: v for k, v in VISIT.items() if k != "url"}),
            "url: field required",
        ),
        (
            "page-visits",
            b"L1",
            orjson.dumps({**VISIT, "occurred_at": "2026-03-01T10:00:00"}),
            "occurred_at: input should have timezone info",
        ),
        (
            "downloads",
            b"L1",
            orjson.dumps(VISIT),
            "not a valid ContentDownloaded: asset_id: field required",
        ),
        (
            "sales-actions",
            b"L1",
            orjson.dumps({**VISIT, "action": "celebrate"}),
            "action: input should be 'accept'",
        ),
        (
            "page-visits",
            b"L2",
            orjson.dumps(VISIT),
            "the message key 'L2' differs from lead_id 'L1'",
        ),
        (
            "page-visits",
            None,
            orjson.dumps(VISIT),
            "the message key None differs from lead_id 'L1'",
        ),
        (
            "page-visits",
            b"L1",
            orjson.dumps({**VISIT, "occurred_at": "9999-12-31T23:59:59-01:00"}),
            "occurred_at: value error, must lie between 1970 and 2999",
        ),
    ],
)
def test_bad_input_is_explained(
    topic: str, key: bytes | None, value: bytes | None, sentence: str
) -> None:
    with pytest.raises(InputError) as raised:
        decode_input(topic, key, value)
    assert sentence in str(raised.value)


def test_dead_letters_keep_the_raw_value_and_base64_what_is_not_text() -> None:
    failed_at = datetime(2026, 3, 1, tzinfo=UTC)
    letter = dead_letter(
        "page-visits", 3, 42, b"\xff\xfe", b"caf\xc3\xa9 {", InputError("bad"), failed_at
    )
    assert (letter.topic, letter.partition, letter.offset, letter.error) == (
        "page-visits",
        3,
        42,
        "bad",
    )
    assert letter.value == "café {"
    assert letter.key == base64.b64encode(b"\xff\xfe").decode()


def test_encoded_events_decode_back_to_the_same_event() -> None:
    event = ProfileUpdated.model_validate(
        {**VISIT, "email": "a@b.test", "company": {"employees": 10}}
    )
    assert decode_input("lead-profiles", b"L1", encode(event)) == event
