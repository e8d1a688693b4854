"""The SLA timer: which clock a partition has, and which leads get ticked when."""

from __future__ import annotations

from streamproc.domain.events import ClockTicked
from streamproc.domain.state import from_ms
from streamproc.streaming.sla_timer import (
    IDLE_AFTER_MS,
    RETICK_AFTER_MS,
    PartitionClocks,
    SlaTimer,
    deadline_entry,
)

HOUR = 3_600_000
WALL = 1_800_000_000_000  # the wall clock in these tests


def test_a_busy_partition_runs_on_event_time_and_an_idle_one_on_the_wall_clock() -> None:
    clocks = PartitionClocks(started_ms=WALL - IDLE_AFTER_MS)
    assert clocks.now(0, WALL) == WALL  # nothing read since the start: nothing to catch up on
    clocks.observe("page-visits", 0, event_ms=WALL - 30 * HOUR, wall_ms=WALL)
    clocks.observe("page-visits", 0, event_ms=WALL - 40 * HOUR, wall_ms=WALL)  # no going back
    assert clocks.now(0, WALL + IDLE_AFTER_MS - 1) == WALL - 30 * HOUR
    assert clocks.now(0, WALL + IDLE_AFTER_MS) == WALL + IDLE_AFTER_MS
    assert clocks.now(1, WALL) == WALL


def test_a_partition_waits_for_its_slowest_busy_input() -> None:
    clocks = PartitionClocks(started_ms=WALL - IDLE_AFTER_MS)
    clocks.observe("page-visits", 0, event_ms=WALL - 2 * HOUR, wall_ms=WALL)
    clocks.observe("sales-actions", 0, event_ms=WALL - 20 * HOUR, wall_ms=WALL)
    assert clocks.now(0, WALL) == WALL - 20 * HOUR  # a reaction may still be unread there
    clocks.observe("page-visits", 0, event_ms=WALL - HOUR, wall_ms=WALL + IDLE_AFTER_MS)
    assert clocks.now(0, WALL + IDLE_AFTER_MS) == WALL - HOUR  # sales actions went idle
    assert clocks.now(0, WALL + 2 * IDLE_AFTER_MS) == WALL + 2 * IDLE_AFTER_MS


def test_a_just_started_worker_judges_no_deadline_before_it_could_read_its_backlog() -> None:
    clocks = PartitionClocks(started_ms=WALL)
    assert clocks.now(0, WALL + IDLE_AFTER_MS - 1) is None
    clocks.observe("page-visits", 0, event_ms=WALL - 30 * HOUR, wall_ms=WALL + 10)
    assert clocks.now(0, WALL + 20) == WALL - 30 * HOUR
    assert clocks.now(1, WALL + IDLE_AFTER_MS) == WALL + IDLE_AFTER_MS


async def test_only_overdue_leads_are_ticked_and_not_flooded() -> None:
    sent: list[tuple[bytes, int, ClockTicked]] = []

    async def send(key: bytes, partition: int, tick: ClockTicked) -> None:
        sent.append((key, partition, tick))

    timer = SlaTimer(send, started_ms=WALL - IDLE_AFTER_MS)
    deadlines = [
        (b"due", deadline_entry(WALL - HOUR, 0)),
        (b"later", deadline_entry(WALL + HOUR, 1)),
    ]
    assert await timer.tick_overdue(deadlines, WALL) == 1
    assert sent == [(b"due", 0, ClockTicked(lead_id="due", at=from_ms(WALL)))]
    assert await timer.tick_overdue(deadlines, WALL + RETICK_AFTER_MS - 1) == 0
    assert await timer.tick_overdue(deadlines, WALL + RETICK_AFTER_MS) == 1
    assert await timer.tick_overdue(deadlines, WALL + 2 * HOUR) == 2
    assert await timer.tick_overdue([], WALL + 3 * HOUR) == 0


async def test_a_partition_replaying_history_is_ticked_only_once_its_events_pass() -> None:
    sent: list[ClockTicked] = []

    async def send(key: bytes, partition: int, tick: ClockTicked) -> None:
        sent.append(tick)

    timer = SlaTimer(send, started_ms=WALL - IDLE_AFTER_MS)
    deadline = WALL - 10 * HOUR  # long past on the wall clock
    timer.clocks.observe("page-visits", 2, event_ms=deadline - HOUR, wall_ms=WALL)  # stream behind
    assert await timer.tick_overdue([(b"lead", deadline_entry(deadline, 2))], WALL) == 0
    timer.clocks.observe("page-visits", 2, event_ms=deadline + 1, wall_ms=WALL + 1)
    assert await timer.tick_overdue([(b"lead", deadline_entry(deadline, 2))], WALL + 1) == 1
    assert sent == [ClockTicked(lead_id="lead", at=from_ms(deadline + 1))]


async def test_the_expiry_timer_shares_the_clocks_and_sends_a_burst_over_several_scans() -> None:
    sent: list[bytes] = []

    async def send(key: bytes, partition: int, tick: ClockTicked) -> None:
        sent.append(key)

    sla = SlaTimer(send, started_ms=WALL - IDLE_AFTER_MS)
    expiry = SlaTimer(send, 0, clocks=sla.clocks, retick_after_ms=10 * HOUR, most_per_scan=2)
    assert expiry.clocks is sla.clocks
    sla.clocks.observe("page-visits", 0, event_ms=WALL - 30 * HOUR, wall_ms=WALL)
    index = [(f"v{i}".encode(), deadline_entry(WALL - 40 * HOUR, 0)) for i in range(5)]
    index.append((b"later", deadline_entry(WALL - 20 * HOUR, 0)))  # after the partition clock
    assert await expiry.tick_overdue(index, WALL) == 2
    assert await expiry.tick_overdue(index, WALL + 1) == 2
    assert await expiry.tick_overdue(index, WALL + 2) == 1
    assert await expiry.tick_overdue(index, WALL + 3) == 0  # not again before 10 hours
    assert sorted(sent) == [f"v{i}".encode() for i in range(5)]
