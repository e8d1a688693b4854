"""The SLA timer: when a partition's clock passes a lead's owed deadline, tell the lead.

The ingest loop is the one writer of lead state, so the timer does not decide anything: it
sends a `ClockTicked` keyed by the lead to the co-partitioned `sla-ticks` topic, and the loop
applies it like any other event (the breach, its id and the state change come from the
domain). A tick that arrives twice, or for a lead whose reaction came meanwhile, changes
nothing, so any worker may tick any lead it has a copy of: after a rebalance the tick still
lands on the partition's owner.

Which clock: while a partition is busy its clock is the newest event time read from it (its
watermark), so a worker catching up on a backlog or replaying history does not call a review
late that the history shows in time. A partition from which no event came for IDLE_AFTER_MS
(counted from the worker's start for a partition it has not read yet, so that a restarted
worker reads its backlog before it judges deadlines) is caught up, and its clock is the wall
clock: an MQL already 30 hours old breaches within seconds, with no further event needed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from streamproc.domain.events import ClockTicked
from streamproc.domain.state import from_ms

RETICK_AFTER_MS = 10_000
"""How long to wait for a tick to be applied before ticking the same lead again."""
IDLE_AFTER_MS = 3_000
"""A partition with no event for this long is caught up: its clock becomes the wall clock."""


@dataclass
class _Progress:
    newest_event_ms: int
    read_at_ms: int


class PartitionClocks:
    """What time it is for each partition: the slowest busy input topic's watermark, or the
    wall clock when every input of the partition is idle.

    The slowest, because the inputs of one partition are read independently: while the
    page visits of a backlog run days ahead, the sales action that answers an MQL in time may
    still be unread on its own topic, and judging the deadline then would call it late.
    """

    def __init__(self, started_ms: int) -> None:
        self._started_ms = started_ms
        self._progress: dict[int, dict[str, _Progress]] = {}

    def observe(self, topic: str, partition: int, event_ms: int, wall_ms: int) -> None:
        """Record an event read from `topic[partition]` at wall-clock time `wall_ms`."""
        inputs = self._progress.setdefault(partition, {})
        seen = inputs.get(topic)
        newest = event_ms if seen is None else max(seen.newest_event_ms, event_ms)
        inputs[topic] = _Progress(newest, wall_ms)

    def now(self, partition: int, wall_ms: int) -> int | None:
        """The partition's clock; None while the worker has just started and not read it."""
        inputs = self._progress.get(partition)
        if not inputs:
            return wall_ms if wall_ms - self._started_ms >= IDLE_AFTER_MS else None
        busy = [
            seen.newest_event_ms
            for seen in inputs.values()
            if wall_ms - seen.read_at_ms < IDLE_AFTER_MS
        ]
        return min(*busy, wall_ms) if busy else wall_ms


def deadline_entry(deadline_ms: int, partition: int) -> bytes:
    """The deadline index's value: when the lead is due, and the partition it lives in."""
    return f"{deadline_ms}:{partition}".encode()


EXPIRY_STEP_MS = 3_600_000
"""The expiry index holds a lead's expiry rounded up to the hour: a lead active several times
within an hour rewrites its entry once, and the tick that expires it comes at most an hour
(of event time) late. Which leads expire does not depend on it (`retention.is_expired`)."""


EXPIRY_RETICK_AFTER_MS = 600_000
"""The expiry timer ticks a lead again only after this long: a tick not applied yet is
waiting behind others (a clock that ran through a year of backlog expires many leads at
once), and a lost one only makes an expiry later."""
EXPIRY_TICKS_PER_SCAN = 20_000
"""At most this many expiry ticks per scan, so the ticks of a burst of expiries go out over
several scans instead of filling `sla-ticks` far ahead of the loop that applies them."""


def expiry_entry(expires_ms: int | None, partition: int) -> bytes | None:
    """The expiry index's value for a lead that expires at `expires_ms` (None: it is kept)."""
    if expires_ms is None:
        return None
    return deadline_entry(-(-expires_ms // EXPIRY_STEP_MS) * EXPIRY_STEP_MS, partition)


class SlaTimer:
    """Ticks leads whose deadline passed, at most once per RETICK_AFTER_MS each (or as
    given), and at most `most_per_scan` per scan when given. The expiry timer is a second one,
    on the expiry index, sharing the SLA timer's partition clocks."""

    def __init__(
        self,
        send: Callable[[bytes, int, ClockTicked], Awaitable[None]],
        started_ms: int,
        clocks: PartitionClocks | None = None,
        retick_after_ms: int = RETICK_AFTER_MS,
        most_per_scan: int | None = None,
    ) -> None:
        self._send = send
        self.clocks = clocks or PartitionClocks(started_ms)
        self._retick_after_ms = retick_after_ms
        self._most_per_scan = most_per_scan
        self._ticked_ms: dict[bytes, int] = {}

    async def tick_overdue(self, deadlines: Iterable[tuple[bytes, bytes]], wall_ms: int) -> int:
        """Send a tick to every lead whose deadline is before its partition's clock."""
        sent = 0
        overdue = []
        for key, entry in deadlines:
            deadline, partition = (int(part) for part in entry.split(b":"))
            now = self.clocks.now(partition, wall_ms)
            if now is None or deadline >= now:
                continue
            overdue.append(key)
            if self._most_per_scan is not None and sent >= self._most_per_scan:
                continue  # the next scan sends the rest: a backlog of ticks stays bounded
            if wall_ms - self._ticked_ms.get(key, 0) >= self._retick_after_ms:
                # To the lead's own partition, whatever partitioner its producers use.
                tick = ClockTicked(lead_id=key.decode(), at=from_ms(now))
                await self._send(key, partition, tick)
                self._ticked_ms[key] = wall_ms
                sent += 1
        self._ticked_ms = {key: self._ticked_ms[key] for key in overdue if key in self._ticked_ms}
        return sent
