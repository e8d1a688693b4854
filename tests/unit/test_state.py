"""The cheap ways the domain builds states and reads event times behave like pydantic's own."""

from __future__ import annotations

from streamproc.domain.events import PageVisited, Stage
from streamproc.domain.state import LeadState
from tests.builders import at, visit


def test_evolving_a_state_equals_copying_it_with_the_same_update() -> None:
    state = LeadState(lead_id="L", profile={"email": "a@b.test"}, clock_ms=5)
    changes = {"stage": Stage.LEAD, "transitions": 1, "hits": {"demo": ((7, "e-1"),)}}
    evolved, copied = state.evolve(**changes), state.model_copy(update=changes)
    assert evolved == copied
    assert evolved.model_fields_set == copied.model_fields_set
    assert evolved.model_dump_json() == copied.model_dump_json()
    assert state.stage is Stage.VISITOR  # the original is untouched


def test_new_states_do_not_share_their_empty_fields() -> None:
    first, second = LeadState(lead_id="A"), LeadState(lead_id="B")
    assert first.profile is not second.profile
    assert first.hits is not second.hits


def test_an_event_whose_time_was_read_equals_one_whose_was_not_and_dumps_the_same() -> None:
    event = visit("L", at(1), event_id="e-1")
    read = PageVisited.model_validate(event.model_dump())
    assert read.occurred_ms == round(at(1).timestamp() * 1000)
    fresh = PageVisited.model_validate(event.model_dump())
    assert read == fresh
    assert read.model_dump() == fresh.model_dump()
    assert "occurred_ms" not in read.model_dump_json()
