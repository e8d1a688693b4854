"""Decoding input messages: each kind of bad input gets a sentence a person understands."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from streamproc.domain.events import PageVisited, ProfileUpdated
from streamproc.streaming.codec import InputError, decode_input, encode
from streamproc.streaming.deadletters import LETTER_VALUE_BYTES, dead_letter

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


@pytest.mark.parametrize(
    "value",
    [
        b"\x01" * 200_000,
        b"\xff" * 900_000,
        "caf\u00e9 \U0001f600 ".encode() * 50_000,
        b'{"url": "' + b"\\u0001" * 170_000 + b'"}',
    ],
    ids=["control bytes", "not UTF-8", "wide characters", "escaped control characters"],
)
def test_a_dead_letter_repeats_the_beginning_of_a_large_value_with_its_size_and_hash(
    value: bytes,
) -> None:
    letter = dead_letter("page-visits", 0, 7, b"L1", value, InputError("bad"))
    assert len(encode(letter)) <= LETTER_VALUE_BYTES + 1_000
    assert letter.value_size == len(value)
    assert letter.value_sha256 == hashlib.sha256(value).hexdigest()
    assert letter.value
    try:
        assert value.decode().startswith(letter.value)
    except UnicodeDecodeError:
        assert value.startswith(base64.b64decode(letter.value))


def test_a_small_value_is_repeated_whole_and_a_long_sentence_is_cut() -> None:
    letter = dead_letter("page-visits", 0, 7, b"L1", b"{oops", InputError("x" * 10_000))
    assert (letter.value, letter.value_size) == ("{oops", 5)
    assert len(letter.error) < 2_010
    assert dead_letter("page-visits", 0, 7, None, None).value_sha256 is None
