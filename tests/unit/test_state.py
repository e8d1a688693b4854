"""The cheap ways the domain builds states and reads event times behave like pydantic's own."""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

from hypothesis import given
from hypothesis import strategies as st

from streamproc.domain.events import PageVisited, Stage
from streamproc.domain.state import LeadState, output_id
from tests.builders import at, visit

OUTPUT_IDS = uuid5(NAMESPACE_URL, "https://streamproc.dev/output-events")


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


@given(st.lists(st.one_of(st.text(), st.integers()), min_size=1, max_size=4))
def test_an_output_id_is_the_uuid5_of_its_parts(parts: list[str | int]) -> None:
    """Ids published before must not change: consumers de-duplicate on them."""
    expected = str(uuid5(OUTPUT_IDS, "/".join(str(part) for part in parts)))
    assert output_id(*parts) == expected


def test_output_ids_are_the_ones_published_so_far() -> None:
    assert output_id("lead-1", "stage", 1) == "9459c6f6-5431-50cf-9356-a8cc43d57960"
