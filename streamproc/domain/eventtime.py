"""Event time as integer milliseconds since the epoch: the unit of windows, deadlines and state.

Kept apart from the models so that an input event can carry its own time in this unit.
"""

from __future__ import annotations

from datetime import UTC, datetime

MS_PER_SECOND = 1000


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * MS_PER_SECOND)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / MS_PER_SECOND, tz=UTC)
