"""Dead letters: every message that could not be processed, with where it came from and why.

A dead letter always fits in a Kafka message, whatever was sent: it repeats the raw value up
to LETTER_VALUE_BYTES of JSON text (escaping can make text six times longer, base64 a third),
and carries the value's size and SHA-256, which find the whole value on its topic.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import orjson

from streamproc.domain.events import DeadLettered
from streamproc.streaming.codec import KEY_BYTES

LETTER_VALUE_BYTES = 16_384
"""JSON bytes of the raw value a dead letter repeats at most."""
LETTER_KEY_BYTES = 4 * KEY_BYTES
"""JSON bytes of the raw key a dead letter repeats at most (a longer key is refused for its
length, which the sentence says)."""
ERROR_CHARACTERS = 2_000
"""Characters of the sentence at most: sentences quote producers' text only briefly."""


def dead_letter(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: Exception | None = None,
    failed_at: datetime | None = None,
) -> DeadLettered:
    """The dead-letter record for a message at `topic[partition]@offset` that failed."""
    sentence = str(error) if error else ""
    return DeadLettered(
        topic=topic,
        partition=partition,
        offset=offset,
        key=repeated(key, LETTER_KEY_BYTES),
        value=repeated(value, LETTER_VALUE_BYTES),
        error=sentence
        if len(sentence) <= ERROR_CHARACTERS
        else sentence[:ERROR_CHARACTERS] + "...",
        failed_at=failed_at or datetime.now(UTC),
        value_size=None if value is None else len(value),
        value_sha256=None if value is None else hashlib.sha256(value).hexdigest(),
    )


def repeated(raw: bytes | None, room: int) -> str | None:
    """`raw` as text (base64 when not UTF-8, as `codec.text_or_base64`), cut to its beginning
    when its JSON would be longer than `room` bytes."""
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # base64: four characters for every three bytes
        return base64.b64encode(raw[: max(0, (room - 2) // 4 * 3)]).decode("ascii")
    if len(text) * 6 + 2 <= room:
        return text  # fits even if every character were escaped: the common case
    written = len(orjson.dumps(text))
    kept = len(text)
    while written > room:
        kept = max(0, kept * room // written - 1)
        written = len(orjson.dumps(text[:kept]))
    return text[:kept]
