"""The stage table: allowed transitions, refusals, reason codes, recycling and lanes."""

from __future__ import annotations

import pytest

from streamproc.definitions import load_definition
from streamproc.domain.events import MqlCrossed, Stage, StageChanged
from streamproc.domain.lead import LeadState, decide
from streamproc.domain.lifecycle import DisallowedActionError, ReasonCodeError
from tests.builders import action, at, good_fit, replay, visit

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
def test_disallowed_actions_name_the_stage_and_change_nothing(name: str, start: Stage) -> None:
    with pytest.raises(DisallowedActionError, match=rf"{name}.*stage {start}"):
        decide(lead_in(start), action("L", at(), name, reason_code="low_intent"), ACME)


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
    crossed, change = decision.outputs
    assert isinstance(crossed, MqlCrossed) and crossed.crossing == 2
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
