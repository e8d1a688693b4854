"""SLA clocks: started when a lead enters a stage that owes a reaction, stopped by it.

Deadlines are absolute instants (milliseconds since the epoch) computed from the event time
of the stage entry, so a change of UTC offset between two timestamps (daylight saving) never
shortens or stretches a promise: 24 hours are 24 elapsed hours.
"""

from __future__ import annotations

from streamproc.domain.definition import Definition
from streamproc.domain.events import Lane, SlaBreached, Stage
from streamproc.domain.eventtime import MS_PER_SECOND
from streamproc.domain.state import SlaClock, SlaName, from_ms, output_id

OWED_ON_ENTRY: dict[Stage, SlaName] = {Stage.MQL: "mql_review", Stage.SQL: "sql_first_touch"}
"""The reaction a stage owes from the moment a lead enters it."""


def start_clock(
    stage: Stage, lane: Lane, at_ms: int, entry: int, queue: str | None, definition: Definition
) -> SlaClock | None:
    """The clock that entering `stage` at `at_ms` (the lead's `entry`-th transition) starts,
    if that stage owes a reaction."""
    sla = OWED_ON_ENTRY.get(stage)
    if sla is None:
        return None
    duration = getattr(definition.sla[lane], sla).total_seconds()
    deadline = at_ms + round(duration * MS_PER_SECOND)
    return SlaClock(
        sla=sla, stage=stage, started_ms=at_ms, entry=entry, deadline_ms=deadline, queue=queue
    )


def overdue(
    lead_id: str, clocks: tuple[SlaClock, ...], now_ms: int
) -> tuple[tuple[SlaClock, ...], tuple[SlaBreached, ...]]:
    """Split clocks into those still running and breaches of those whose deadline passed.

    A reaction exactly at the deadline is in time. The breach id depends only on the lead,
    the SLA and the transition that started its clock, so detecting it twice (a replay, a
    restart, a timer and a late reaction) publishes the same id.
    """
    running, breaches = [], []
    for clock in clocks:
        if now_ms <= clock.deadline_ms:
            running.append(clock)
            continue
        breaches.append(
            SlaBreached(
                event_id=output_id(lead_id, "sla", clock.sla, clock.entry),
                lead_id=lead_id,
                sla=clock.sla,
                stage=clock.stage,
                started_at=from_ms(clock.started_ms),
                deadline=from_ms(clock.deadline_ms),
                detected_at=from_ms(now_ms),
                queue=clock.queue,
            )
        )
    return tuple(running), tuple(breaches)


def still_owed(clocks: tuple[SlaClock, ...], stage: Stage, contacted: bool) -> tuple[SlaClock, ...]:
    """The clocks that survive a lead being in `stage` after an action.

    Leaving the stage that owed a reaction settles it (an MQL accepted or rejected is
    reviewed); a `contacted` action settles the first touch of an SQL.
    """
    return tuple(
        clock
        for clock in clocks
        if clock.stage is stage and not (contacted and clock.sla == "sql_first_touch")
    )
