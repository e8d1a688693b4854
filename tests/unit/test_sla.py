"""SLA clocks: started on entering MQL or SQL, settled by the reaction, breached once."""

from __future__ import annotations

from datetime import datetime

import pytest

from streamproc.definitions import load_definition
from streamproc.domain.events import ClockTicked, SlaBreached, Stage, StageChanged
from streamproc.domain.lead import decide
from streamproc.domain.state import LeadState
from tests.builders import action, at, demo, good_fit, replay, visit

ACME = load_definition("acme")
DEFAULT = load_definition("default")


def mql_at(hours: float, lane: str = "inbound") -> LeadState:
    """A lead that crossed into MQL under Acme exactly at T0 + `hours`."""
    history = [
        good_fit("L", at(), lane=lane),
        visit("L", at(hours=hours - 1)),
        visit("L", at(hours=hours)),
    ]
    state, _ = replay(history, ACME)
    assert state.stage is Stage.MQL
    return state


def tick(when: datetime) -> ClockTicked:
    return ClockTicked(lead_id="L", at=when)


def breaches(outputs: object) -> list[SlaBreached]:
    return [o for o in outputs if isinstance(o, SlaBreached)]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("lane", "hours_later", "breached"),
    [
        ("inbound", 24, False),  # exactly at the deadline is in time
        ("inbound", 24.001, True),
        ("outbound", 47.9, False),
        ("outbound", 48.1, True),
    ],
)
def test_an_unreviewed_mql_breaches_after_its_lanes_review_time(
    lane: str, hours_later: float, breached: bool
) -> None:
    state = mql_at(10, lane)
    decision = decide(state, tick(at(hours=10 + hours_later)), ACME)
    assert len(breaches(decision.outputs)) == int(breached)
    if breached:
        [breach] = breaches(decision.outputs)
        assert (breach.sla, breach.stage, breach.queue) == ("mql_review", Stage.MQL, "acme-inbound")
        assert breach.started_at == at(hours=10)
        assert breach.deadline == at(hours=10 + (24 if lane == "inbound" else 48))
        assert breach.detected_at == at(hours=10 + hours_later)


def test_a_breach_is_published_once_and_a_late_reaction_still_moves_the_stage() -> None:
    state = mql_at(0)
    first = decide(state, tick(at(hours=30)), ACME)
    again = decide(first.state, tick(at(hours=31)), ACME)
    assert len(breaches(first.outputs)) == 1 and again.outputs == ()
    accepted = decide(again.state, action("L", at(hours=32), "accept"), ACME)
    [change] = accepted.outputs
    assert isinstance(change, StageChanged) and change.to_stage is Stage.SAL


def test_a_reaction_in_time_settles_the_clock() -> None:
    state = decide(
        mql_at(0), action("L", at(hours=5), "reject", reason_code="low_intent"), ACME
    ).state
    assert state.sla_clocks == ()
    assert decide(state, tick(at(days=10)), ACME).outputs == ()


def test_a_late_reaction_without_a_tick_detects_the_breach_itself() -> None:
    """A replay has no timer: the reaction's own event time reveals the missed deadline."""
    late = action("L", at(hours=30), "accept")
    decision = decide(mql_at(0), late, ACME)
    breach, change = decision.outputs
    assert isinstance(breach, SlaBreached) and breach.detected_at == at(hours=30)
    assert isinstance(change, StageChanged) and change.to_stage is Stage.SAL
    replayed = decide(mql_at(0), tick(at(hours=29)), ACME)
    assert breaches(replayed.outputs)[0].event_id == breach.event_id


def test_an_sql_owes_a_first_touch_that_contacted_settles() -> None:
    sql = decide(mql_at(0), action("L", at(hours=1), "qualify"), ACME).state
    assert [c.sla for c in sql.sla_clocks] == ["sql_first_touch"]
    touched = decide(sql, action("L", at(hours=20), "contacted"), ACME).state
    assert touched.sla_clocks == () and touched.stage is Stage.SQL
    untouched = decide(sql, tick(at(hours=26)), ACME)
    [breach] = breaches(untouched.outputs)
    assert (breach.sla, breach.stage) == ("sql_first_touch", Stage.SQL)


def test_deadlines_count_elapsed_hours_across_a_daylight_saving_change() -> None:
    """Europe/Berlin moves from +01:00 to +02:00 on 2026-03-29: 24 h later reads 11:00."""
    entered = datetime.fromisoformat("2026-03-28T10:00:00+01:00")
    history = [
        good_fit("L", datetime.fromisoformat("2026-03-28T08:00:00+01:00")),
        visit("L", datetime.fromisoformat("2026-03-28T09:00:00+01:00")),
        visit("L", entered),
    ]
    state, _ = replay(history, ACME)
    [clock] = state.sla_clocks
    assert clock.deadline_ms - clock.started_ms == 24 * 3600 * 1000
    in_time = action("L", datetime.fromisoformat("2026-03-29T11:00:00+02:00"), "accept")
    assert breaches(decide(state, in_time, ACME).outputs) == []
    late = action("L", datetime.fromisoformat("2026-03-29T11:00:01+02:00"), "accept")
    assert len(breaches(decide(state, late, ACME).outputs)) == 1


def test_a_late_reaction_read_before_its_mql_still_reveals_the_breach() -> None:
    """Topics are read independently: the reject can be read before the demo booking."""
    reject = action("L", at(hours=31), "reject", reason_code="low_intent")
    in_time_order = [good_fit("L", at()), demo("L", at(hours=1)), reject]
    reject_first = [good_fit("L", at()), reject, demo("L", at(hours=1))]
    for arrival in (in_time_order, reject_first):
        state, outputs = replay(arrival, ACME)
        [breach] = breaches(outputs)
        assert breach.detected_at == at(hours=31) and state.stage is Stage.RECYCLED
