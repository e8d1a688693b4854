"""Dead letters: every message that could not be processed, with where it came from and why."""

from __future__ import annotations

from datetime import UTC, datetime

from streamproc.domain.events import DeadLettered
from streamproc.streaming.codec import text_or_base64


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
    return DeadLettered(
        topic=topic,
        partition=partition,
        offset=offset,
        key=text_or_base64(key),
        value=text_or_base64(value),
        error=str(error) if error else "",
        failed_at=failed_at or datetime.now(UTC),
    )
