"""Sliding windows in event time: edges, out-of-order events, duplicates, bounded memory."""

from __future__ import annotations

from random import Random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc.definitions import load_definition
from streamproc.domain.events import MqlCrossed, Stage
from streamproc.domain.state import LeadState
from tests.builders import at, demo, good_fit, replay, visit

ACME = load_definition("acme")


def crossings(outputs: list[object]) -> list[MqlCrossed]:
    return [output for output in outputs if isinstance(output, MqlCrossed)]


@pytest.mark.parametrize(
    ("gap_hours", "crosses"),
    [
        (6 * 24 + 23, True),  # 6 days 23 hours apart: both in one 7-day window
        (7 * 24 - 0.001, True),
        (7 * 24, False),  # exactly 7 days: the window is (t - 7d, t], the first has left
        (7 * 24 + 1, False),  # 7 days 1 hour apart: never together
    ],
)
def test_two_pricing_views_count_together_only_inside_seven_days(
    gap_hours: float, crosses: bool
) -> None:
    events = [good_fit("L", at(0)), visit("L", at(1)), visit("L", at(1, hours=gap_hours))]
    state, outputs = replay(events, ACME)
    assert bool(crossings(outputs)) is crosses
    assert state.stage is (Stage.MQL if crosses else Stage.LEAD)


@pytest.mark.parametrize("gap_hours", [6 * 24 + 23, 7 * 24 + 1])
def test_late_event_is_scored_at_its_own_event_time(gap_hours: float) -> None:
    """The second view arrives first; the window still measures event time, not arrival."""
    first, second = visit("L", at(1)), visit("L", at(1, hours=gap_hours))
    in_order = replay([good_fit("L", at(0)), first, second], ACME)[1]
    reversed_arrival = replay([good_fit("L", at(0)), second, first], ACME)[1]
    assert [(c.occurred_at, c.event_id) for c in crossings(in_order)] == [
        (c.occurred_at, c.event_id) for c in crossings(reversed_arrival)
    ]


def test_late_event_crosses_at_the_later_view_that_completes_the_pair() -> None:
    views = [visit("L", at(3)), visit("L", at(20))]
    late = visit("L", at(2))  # arrives after day 20 but pairs with day 3 in event time
    _, outputs = replay([good_fit("L", at(0)), *views, late], ACME)
    [crossed] = crossings(outputs)
    assert crossed.occurred_at == at(3)
    assert crossed.trigger_event_id == late.event_id


def test_a_repeated_event_id_is_counted_once() -> None:
    view = visit("L", at(1))
    state, outputs = replay([good_fit("L", at(0)), view, view, view], ACME)
    assert crossings(outputs) == []
    assert [event_id for _, event_id in state.hits["pricing_page_view"]] == [view.event_id]


def test_a_retry_arriving_after_the_crossing_emits_nothing_more() -> None:
    first, second = visit("L", at(1)), visit("L", at(2))
    _, outputs = replay([good_fit("L", at(0)), first, second, second, first], ACME)
    assert len(crossings(outputs)) == 1


def test_memory_per_lead_is_bounded_by_the_definition_not_the_traffic() -> None:
    views = [visit("L", at(hours=minutes / 60)) for minutes in range(5000)]
    state, _ = replay(views, ACME)
    assert len(state.hits["pricing_page_view"]) == ACME.events_kept["pricing_page_view"] < 100
    assert len(state.model_dump_json()) < 4000


def test_hits_older_than_the_allowed_lateness_are_forgotten() -> None:
    state, _ = replay([visit("L", at(0)), visit("L", at(100))], ACME)
    assert [t for t, _ in state.hits["pricing_page_view"]] == [round(at(100).timestamp() * 1000)]


@settings(max_examples=200, deadline=None)
@given(
    hours=st.lists(st.integers(min_value=0, max_value=40 * 24), max_size=8),
    order=st.randoms(use_true_random=False),
)
def test_whether_a_lead_crosses_does_not_depend_on_arrival_order(
    hours: list[int], order: Random
) -> None:
    """Any arrival order within the allowed lateness crosses iff time order does, with one id.

    The crossing may come later in event time than in time order: it happens when the
    information arrives, and a stream does not take back an MQL already published.
    """
    in_time_order = [visit("L", at(hours=h)) for h in sorted(hours)]
    arrival = list(in_time_order)
    order.shuffle(arrival)
    newest_so_far = 0.0
    for event in arrival:
        hour = (event.occurred_at - at()).total_seconds() / 3600
        if newest_so_far - hour >= 30 * 24:
            return  # later than the allowed lateness (the longest window): not comparable
        newest_so_far = max(newest_so_far, hour)
    expected = crossings(replay([good_fit("L", at(-1)), *in_time_order], ACME)[1])
    actual = crossings(replay([good_fit("L", at(-1)), *arrival], ACME)[1])
    assert [c.event_id for c in actual] == [c.event_id for c in expected]
    for late, timely in zip(actual, expected, strict=True):
        assert timely.occurred_at <= late.occurred_at


def test_a_visit_read_after_the_profile_cannot_cross_before_the_lead_existed() -> None:
    """Topics are read independently: a demo booked before the lead identified itself can be
    read after the profile. The lead crosses when it became a lead, as in time order."""
    profile, early_demo = good_fit("L", at(2)), demo("L", at(1))
    in_time_order = crossings(replay([early_demo, profile], ACME)[1])
    profile_first = crossings(replay([profile, early_demo], ACME)[1])
    assert (
        [c.occurred_at for c in profile_first] == [c.occurred_at for c in in_time_order] == [at(2)]
    )


def test_the_stored_state_leaves_out_empty_bookkeeping_and_reads_back_equal() -> None:
    visitor, _ = replay([visit("V", at(1))], ACME)
    stored = orjson.loads(visitor.model_dump_json())
    assert not {"parked", "sla_clocks", "action_ids", "queue", "intent_since_ms"} & set(stored)
    assert LeadState.model_validate_json(visitor.model_dump_json()) == visitor
    mql, _ = replay([good_fit("L", at(0)), demo("L", at(1))], ACME)
    assert mql.sla_clocks and mql.queue
    assert LeadState.model_validate_json(mql.model_dump_json()) == mql
