"""Erasure in the domain: an input event like the others, whose decision is "delete this lead"."""

from __future__ import annotations

import orjson
import pytest

from streamproc.definitions import load_definition
from streamproc.domain.events import (
    ClockTicked,
    LeadErased,
    LeadErasureRequested,
    SlaBreached,
    Stage,
)
from streamproc.domain.lead import decide
from streamproc.domain.state import LeadState, output_id
from streamproc.streaming.codec import InputError, decode_input, encode
from tests.builders import action, at, erasure, good_fit, replay, visit

ACME = load_definition("acme")


def mql_with_a_parked_action() -> LeadState:
    """An Acme MQL (its review owed within a day) with a `close_won` waiting for its stage."""
    history = [
        good_fit("L", at()),
        visit("L", at(1)),
        visit("L", at(2)),
        action("L", at(2, hours=1), "close_won"),
    ]
    state, _ = replay(history, ACME)
    assert state.stage is Stage.MQL and state.sla_clocks and state.parked
    return state


def test_an_erasure_publishes_lead_erased_and_decides_to_delete_the_lead() -> None:
    request = erasure("L", at(2, hours=2), event_id="forget-1")
    decision = decide(mql_with_a_parked_action(), request, ACME)
    assert decision.erase and not decision.duplicate and decision.refused == ()
    [erased] = decision.outputs
    assert erased == LeadErased(
        event_id=output_id("L", "lead-erased", "forget-1"),
        lead_id="L",
        erased_at=at(2, hours=2),
    )
    # No personal data: three fields, none from the profile.
    assert set(orjson.loads(encode(erased))) == {"event_id", "lead_id", "erased_at"}
    # What a later event starts from: an empty lead, no deadline owed, nothing parked.
    assert decision.state == LeadState(lead_id="L")
    assert decision.state.next_deadline_ms is None


def test_a_breach_owed_before_the_request_is_published_before_the_lead_is_erased() -> None:
    decision = decide(mql_with_a_parked_action(), erasure("L", at(5)), ACME)
    breach, erased = decision.outputs
    assert isinstance(breach, SlaBreached) and breach.sla == "mql_review"
    assert isinstance(erased, LeadErased) and decision.erase


def test_a_repeated_request_is_harmless_and_the_same_request_gets_the_same_id() -> None:
    state = mql_with_a_parked_action()
    request = erasure("L", at(3), event_id="forget-2")
    first, again = decide(state, request, ACME), decide(state, request, ACME)
    assert first.outputs == again.outputs  # read twice (a crash before the commit): one id
    for repeated in (request, erasure("L", at(4), event_id="forget-3")):
        nothing = decide(None, repeated, ACME)  # the lead is no longer held
        assert nothing.duplicate and not nothing.erase and nothing.outputs == ()


def test_a_tick_for_a_lead_that_is_not_held_changes_nothing() -> None:
    """The timer may have ticked the lead just before its erasure was applied."""
    decision = decide(None, ClockTicked(lead_id="L", at=at(9)), ACME)
    assert decision.duplicate and decision.outputs == () and not decision.erase


def test_events_after_an_erasure_start_a_new_empty_lead_whatever_their_event_time() -> None:
    history = [
        good_fit("L", at()),
        visit("L", at(1)),
        visit("L", at(2)),
        erasure("L", at(3)),
        visit("L", at(1, hours=5)),  # older than the request, read after it
        visit("L", at(4)),
    ]
    state, outputs = replay(history, ACME)
    assert [type(o).__name__ for o in outputs][-1] == "LeadErased"
    assert state is not None and state.stage is Stage.VISITOR and state.profile == {}
    assert state.crossings == 0 and len(state.hits["pricing_page_view"]) == 2


def test_the_request_carries_requested_at_as_its_event_time_and_no_occurred_at() -> None:
    value = orjson.dumps({"event_id": "e", "lead_id": "L", "requested_at": "2026-03-02T09:00:00Z"})
    request = decode_input("lead-erasures", b"L", value)
    assert isinstance(request, LeadErasureRequested)
    assert request.occurred_at == request.requested_at == at()
    assert request.requested_by is None
    assert orjson.loads(encode(request)) == {
        "event_id": "e",
        "lead_id": "L",
        "requested_at": "2026-03-02T09:00:00Z",
        "requested_by": None,
    }


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "requested_at: field required"),
        ({"requested_at": "3001-01-01T00:00:00Z"}, "requested_at: value error, must lie between"),
        ({"requested_at": "2026-03-02T09:00:00"}, "requested_at: input should have timezone"),
    ],
)
def test_a_request_without_a_valid_requested_at_is_refused_with_a_sentence(
    fields: dict[str, str], error: str
) -> None:
    value = orjson.dumps({"event_id": "e", "lead_id": "L", **fields})
    with pytest.raises(InputError, match=error):
        decode_input("lead-erasures", b"L", value)
