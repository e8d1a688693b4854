"""The limits the worker holds its input and its state to (DESIGN.md, "Inputs")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from streamproc.domain.events import InputEvent
from streamproc.domain.state import to_ms
from streamproc.settings import Settings
from streamproc.streaming.codec import MAX_RECORD_BYTES, InputError
from streamproc.streaming.state_bound import MAX_STATE_BYTES

MAX_FUTURE_MS = 86_400_000
"""Default of `STREAMPROC_MAX_FUTURE` (one day): how far ahead of the worker's clock an event
may be dated."""
_DAY_MS, _HOUR_MS = 86_400_000, 3_600_000


@dataclass(frozen=True)
class Limits:
    """What a record and a lead's state may be; the settings' values, or the defaults."""

    record_bytes: int = MAX_RECORD_BYTES
    state_bytes: int = MAX_STATE_BYTES
    future_ms: int = MAX_FUTURE_MS

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_record_bytes, settings.max_state_bytes, round(settings.max_future * 1000)
        )

    def check_time(self, event: InputEvent, now: datetime) -> None:
        """Refuse an event dated more than `future_ms` after `now`, the receiving worker's
        wall clock: one dated in the year 2899 would hold the lead's clock (its newest event
        time) past every real event, which then no longer counted.

        The wall clock, not the event time the partition has reached: that only runs ahead of
        the wall clock through events this lets in, so a run of them cannot walk it forward;
        and a worker catching up on a backlog with a quiet day in it refuses nothing."""
        ahead_ms = event.occurred_ms - to_ms(now)
        if ahead_ms > self.future_ms:
            raise InputError(
                f"occurred_at {event.occurred_at.isoformat()} is {_span(ahead_ms)} ahead of the "
                f"worker's clock ({now.isoformat(timespec='seconds')}); an event more than "
                f"{_span(self.future_ms)} ahead is refused (STREAMPROC_MAX_FUTURE), as it would "
                "move the lead's clock past every real event"
            )


def _span(ms: int) -> str:
    """A duration in words: whole days from two on, else hours, else seconds."""
    if ms >= 2 * _DAY_MS or (ms and ms % _DAY_MS == 0):
        days = ms // _DAY_MS
        return f"{days:,} day{'s' if days != 1 else ''}"
    hours = ms / _HOUR_MS
    if hours >= 1:
        return f"{hours:.3g} hour{'s' if hours != 1 else ''}"
    return f"{ms / 1000:.3g} seconds"
