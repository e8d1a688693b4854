"""The SLA timer ticks each overdue lead, and not again while its tick is on its way."""

from __future__ import annotations

from datetime import timedelta

from streamproc.domain.events import ClockTicked
from streamproc.streaming.sla_timer import RETICK_AFTER_MS, SlaTimer
from tests.builders import at


async def test_only_overdue_leads_are_ticked_and_not_flooded() -> None:
    sent: list[tuple[bytes, ClockTicked]] = []

    async def send(key: bytes, tick: ClockTicked) -> None:
        sent.append((key, tick))

    timer = SlaTimer(send)
    deadline = str(round(at().timestamp() * 1000)).encode()
    deadlines = [(b"due", deadline), (b"later", str(int(deadline) + 3_600_000).encode())]
    assert await timer.tick_overdue(deadlines, at(hours=0.5)) == 1
    assert sent == [(b"due", ClockTicked(lead_id="due", at=at(hours=0.5)))]
    assert (
        await timer.tick_overdue(
            deadlines, at(hours=0.5) + timedelta(milliseconds=RETICK_AFTER_MS - 1)
        )
        == 0
    )
    assert (
        await timer.tick_overdue(deadlines, at(hours=0.5) + timedelta(milliseconds=RETICK_AFTER_MS))
        == 1
    )
    assert await timer.tick_overdue(deadlines, at(hours=2)) == 2
    assert await timer.tick_overdue([], at(hours=3)) == 0
