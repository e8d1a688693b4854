"""The SLA timer: when the wall clock passes a lead's owed deadline, tell the lead.

Faust lets only stream processing write tables, so the timer does not decide anything: it
sends a `ClockTicked` keyed by the lead to the co-partitioned `sla-ticks` topic, and the agent
applies it like any other event (the breach, its id and the state change come from the
domain). A tick that arrives twice, or for a lead whose reaction came meanwhile, changes
nothing, so any worker may tick any lead it has a copy of: after a rebalance the tick still
lands on the partition's owner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from streamproc.domain.events import ClockTicked
from streamproc.domain.state import to_ms

RETICK_AFTER_MS = 10_000
"""How long to wait for a tick to be applied before ticking the same lead again."""


class SlaTimer:
    """Remembers what it ticked recently so that a busy agent is not flooded with ticks."""

    def __init__(self, send: Callable[[bytes, ClockTicked], Awaitable[None]]) -> None:
        self._send = send
        self._ticked_ms: dict[bytes, int] = {}

    async def tick_overdue(self, deadlines: Iterable[tuple[bytes, bytes]], now: datetime) -> int:
        """Send a tick for every lead whose deadline is before `now`; how many were sent."""
        now_ms = to_ms(now)
        sent = 0
        overdue = [key for key, deadline in deadlines if int(deadline) < now_ms]
        for key in overdue:
            if now_ms - self._ticked_ms.get(key, 0) < RETICK_AFTER_MS:
                continue
            await self._send(key, ClockTicked(lead_id=key.decode(), at=now))
            self._ticked_ms[key] = now_ms
            sent += 1
        self._ticked_ms = {key: self._ticked_ms[key] for key in overdue if key in self._ticked_ms}
        return sent
