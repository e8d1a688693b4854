"""The stage table: allowed transitions, refusals, reason codes, recycling and lanes."""

from __future__ import annotations

import gc

import pytest

from streamproc.definitions import load_definition
from streamproc.domain.events import ClockTicked, LeadRouted, MqlCrossed, Stage, StageChanged
from streamproc.domain.lead import PARKED_AT_MOST, Arrival, decide
from streamproc.domain.lifecycle import DisallowedActionError, ReasonCodeError, next_stage
from streamproc.domain.state import LeadState, to_ms
from tests.builders import action, at, demo, good_fit, replay, visit

ACME = load_definition("acme")


def lead_in(stage: Stage, lane: str = "inbound") -> LeadState:
    return LeadState(lead_id="L", stage=stage, highest_stage=stage, profile={"lane": lane})


ALLOWED = [
    ("accept", Stage.MQL, Stage.SAL, None),
    ("reject", Stage.MQL, Stage.RECYCLED, "low_intent"),
    ("qualify", Stage.MQL, Stage.SQL, None),
    ("qualify", Stage.SAL, Stage.SQL, None),
    ("disqualify", Stage.SAL, Stage.RECYCLED, "no_budget"),
    ("disqualify", Stage.SQL, Stage.RECYCLED, "no_need"),
    ("open_opportunity", Stage.SQL, Stage.OPPORTUNITY, None),
    ("close_won", Stage.OPPORTUNITY, Stage.CUSTOMER, None),
    ("close_lost", Stage.OPPORTUNITY, Stage.RECYCLED, "competitor"),
]


@pytest.mark.parametrize(("name", "start", "end", "reason"), ALLOWED)
def test_allowed_actions_move_the_stage_once(
    name: str, start: Stage, end: Stage, reason: str | None
) -> None:
    act = action("L", at(), name, reason_code=reason)
    decision = decide(lead_in(start), act, ACME)
    [change] = decision.outputs
    assert isinstance(change, StageChanged)
    assert (change.from_stage, change.to_stage, change.actor, change.reason_code) == (
        start,
        end,
        "rep-1",
        reason,
    )
    assert change.cause_event_id == act.event_id
    assert decision.state.stage is end
    again = decide(decision.state, act, ACME)
    assert again.duplicate and again.outputs == ()


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("close_won", Stage.MQL),
        ("accept", Stage.LEAD),
        ("accept", Stage.SAL),
        ("open_opportunity", Stage.MQL),
        ("qualify", Stage.LEAD),  # inbound leads pass MQL first
        ("qualify", Stage.VISITOR),
        ("close_lost", Stage.SQL),
        ("contacted", Stage.LEAD),
        ("reject", Stage.CUSTOMER),
    ],
)
def test_disallowed_actions_name_the_stage_and_action(name: str, start: Stage) -> None:
    act = action("L", at(), name, reason_code="low_intent")
    with pytest.raises(
        DisallowedActionError, match=rf"action {name} is not allowed .*stage {start}"
    ):
        next_stage(start, "inbound", act, ACME)


def test_a_disallowed_action_waits_then_is_refused_and_changes_nothing() -> None:
    origin = {"topic": "sales-actions", "partition": 2, "offset": 7, "key": "L", "value": "{}"}
    arrival = Arrival(received_ms=to_ms(at()), origin=origin, grace_ms=60_000)
    waiting = decide(lead_in(Stage.MQL), action("L", at(), "close_won"), ACME, arrival=arrival)
    assert waiting.outputs == () and waiting.refused == ()
    assert (
        waiting.state.stage is Stage.MQL and waiting.state.next_deadline_ms == to_ms(at()) + 60_000
    )
    assert decide(waiting.state, ClockTicked(lead_id="L", at=at(hours=0.01)), ACME).refused == ()
    refused = decide(waiting.state, ClockTicked(lead_id="L", at=at(hours=0.02)), ACME)
    [refusal] = refused.refused
    assert refusal.origin == origin
    assert refusal.error.startswith("action close_won is not allowed for a lead in stage mql")
    assert refused.state.parked == () and refused.state.stage is Stage.MQL


def test_past_the_most_waiting_actions_one_more_is_refused_at_once_and_leaves_no_garbage() -> None:
    """The refusal is a dead letter in the worker. It must be freed when dropped: a reference
    cycle through its traceback kept the worker's whole batch until the collector ran, and
    at a few hundred refusals a second the collections stalled the worker for 100-200 ms."""
    state = lead_in(Stage.LEAD)
    for number in range(PARKED_AT_MOST):
        state = decide(
            state, action("L", at(hours=number / 60), "close_won", event_id=f"w{number}"), ACME
        ).state
    assert len(state.parked) == PARKED_AT_MOST
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(DisallowedActionError, match="close_won is not allowed"):
            decide(state, action("L", at(hours=0.2), "close_won", event_id="one-more"), ACME)
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_an_action_read_before_the_event_that_allows_it_is_applied_once_it_arrives() -> None:
    """Topics are read independently: after a restart a rep's accept can overtake the demo
    booking that made the lead an MQL. The accept waits and applies in event-time order."""
    early = [
        good_fit("L", at()),
        action("L", at(hours=3), "accept"),
        action("L", at(hours=4), "qualify"),
    ]
    state, outputs = replay([*early, demo("L", at(hours=2))], ACME)
    assert state.stage is Stage.SQL and state.parked == ()
    changes = [
        (o.from_stage, o.to_stage, o.occurred_at) for o in outputs if isinstance(o, StageChanged)
    ]
    assert changes == [
        (Stage.VISITOR, Stage.LEAD, at()),
        (Stage.LEAD, Stage.MQL, at(hours=2)),
        (Stage.MQL, Stage.SAL, at(hours=3)),
        (Stage.SAL, Stage.SQL, at(hours=4)),
    ]


def test_a_waiting_action_is_counted_once() -> None:
    accept = action("L", at(), "accept")
    state, _ = replay([accept, accept], ACME)
    assert len(state.parked) == 1


def test_outbound_leads_may_be_qualified_straight_into_sql() -> None:
    decision = decide(lead_in(Stage.LEAD, lane="outbound"), action("L", at(), "qualify"), ACME)
    assert decision.state.stage is Stage.SQL


@pytest.mark.parametrize("reason", [None, "because"])
def test_rejections_need_a_reason_code_from_the_taxonomy(reason: str | None) -> None:
    with pytest.raises(ReasonCodeError, match="reject needs a reason code from the definition"):
        decide(lead_in(Stage.MQL), action("L", at(), "reject", reason_code=reason), ACME)


def test_contacted_records_without_moving() -> None:
    decision = decide(lead_in(Stage.SQL), action("L", at(), "contacted"), ACME)
    assert decision.outputs == () and decision.state.stage is Stage.SQL


def test_a_recycled_lead_crosses_again_only_on_fresh_intent() -> None:
    history = [good_fit("L", at()), visit("L", at(hours=1)), visit("L", at(hours=2))]
    history.append(action("L", at(hours=3), "reject", reason_code="bad_timing"))
    state, outputs = replay(history, ACME)
    assert state.stage is Stage.RECYCLED and state.highest_stage is Stage.MQL
    # One more view is not enough: the views before the recycle no longer count.
    decision = decide(state, visit("L", at(hours=4)), ACME)
    assert decision.outputs == ()
    decision = decide(decision.state, visit("L", at(hours=5)), ACME)
    crossed, change, routed = decision.outputs
    assert isinstance(crossed, MqlCrossed) and crossed.crossing == 2
    assert isinstance(routed, LeadRouted) and routed.queue == "acme-inbound"
    assert isinstance(change, StageChanged) and (change.from_stage, change.to_stage) == (
        Stage.RECYCLED,
        Stage.MQL,
    )
    first = next(o for o in outputs if isinstance(o, MqlCrossed))
    assert first.event_id != crossed.event_id


def test_stage_history_is_counted_and_highest_stage_kept() -> None:
    state = lead_in(Stage.OPPORTUNITY)
    state = decide(state, action("L", at(), "close_lost", reason_code="competitor"), ACME).state
    assert (state.stage, state.highest_stage, state.transitions) == (
        Stage.RECYCLED,
        Stage.OPPORTUNITY,
        1,
    )


def test_a_reject_read_after_newer_intent_lets_that_intent_cross_again() -> None:
    """Topics are read independently: the reject can be read after visits that came later
    in event time. They are fresh intent, and the lead crosses again at the second one."""
    earlier = [good_fit("L", at()), visit("L", at(hours=1)), visit("L", at(hours=2))]
    fresh = [visit("L", at(hours=4)), visit("L", at(hours=5))]
    reject = action("L", at(hours=3), "reject", reason_code="bad_timing")
    in_time_order, _ = replay([*earlier, reject, *fresh], ACME)
    reject_read_last, outputs = replay([*earlier, *fresh, reject], ACME)
    assert reject_read_last.stage is in_time_order.stage is Stage.MQL
    assert reject_read_last.crossings == in_time_order.crossings == 2
    [again] = [o for o in outputs if isinstance(o, MqlCrossed) and o.crossing == 2]
    assert again.occurred_at == at(hours=5)
