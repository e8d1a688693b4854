"""A lead's profile through event time: visits are scored with the profile the lead had then,
whatever order the topics were read in."""

from __future__ import annotations

from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc.definitions import load_definition
from streamproc.domain import profile
from streamproc.domain.events import MqlCrossed
from streamproc.domain.state import LeadState
from tests.builders import at, demo, good_fit, replay, visit
from tests.builders import profile as profile_update

ACME = load_definition("acme")
TITLES = ("VP of Marketing", "Marketing Engineer", "Chief Executive Officer")
HOUR_MS = 3_600_000
NO_HORIZON = -(2**62)


def merged(updates: list[tuple[int, str]], horizon_ms: int = NO_HORIZON) -> LeadState:
    """A lead after `updates` of one field, (hour, value) each, read in the given order."""
    state = LeadState(lead_id="L")
    for hour, value in updates:
        fields = profile.merge(state, {"person.title": value}, hour * HOUR_MS, horizon_ms)
        state = state.model_copy(update=fields)
    return state


def held_at(updates: list[tuple[int, str]], hour: int) -> str | None:
    """What the field held at `hour`: the value of the newest update at or before it."""
    earlier = [(h, value) for h, value in updates if h <= hour]
    return max(earlier, key=lambda update: update[0])[1] if earlier else None


@pytest.mark.parametrize(
    ("updates", "hour", "expected"),
    [
        ([(10, "VP")], 9, None),
        ([(10, "VP")], 10, "VP"),
        ([(10, "VP"), (20, "Engineer")], 15, "VP"),
        ([(10, "VP"), (20, "Engineer")], 20, "Engineer"),
        ([(10, "VP"), (20, "VP"), (30, "Engineer")], 15, "VP"),
        ([(10, "VP"), (20, "Engineer"), (30, "VP")], 25, "Engineer"),
    ],
)
def test_the_profile_as_of_a_moment_is_what_the_lead_had_then(
    updates: list[tuple[int, str]], hour: int, expected: str | None
) -> None:
    assert profile.as_of(merged(updates), hour * HOUR_MS).get("person.title") == expected


@settings(max_examples=300, deadline=None)
@given(
    updates=st.lists(
        st.tuples(st.integers(0, 100), st.sampled_from(TITLES)),
        max_size=profile.RUNS_KEPT,
        unique_by=lambda update: update[0],
    ),
    hour=st.integers(-1, 101),
)
def test_updates_read_in_time_order_tell_what_the_field_held_at_any_moment(
    updates: list[tuple[int, str]], hour: int
) -> None:
    in_time_order = sorted(updates)
    state = merged(in_time_order)
    assert profile.as_of(state, hour * HOUR_MS).get("person.title") == held_at(updates, hour)


@settings(max_examples=300, deadline=None)
@given(
    updates=st.lists(
        st.tuples(st.integers(0, 100), st.sampled_from(TITLES)),
        min_size=1,
        unique_by=lambda update: update[0],
    ),
    order=st.randoms(use_true_random=False),
)
def test_the_newest_update_wins_whatever_the_read_order(
    updates: list[tuple[int, str]], order: Random
) -> None:
    """Except after a repeat: a value set again is not remembered (it would cost memory for
    every enriched lead), so a different, older value read after it is taken as newer."""
    arrival = list(updates)
    order.shuffle(arrival)
    read_so_far: list[tuple[int, str]] = []
    for hour, value in arrival:
        if any(h > hour and held_at(read_so_far, h - 1) == v for h, v in read_so_far):
            return  # read after a repeat of an older value: the exception above
        read_so_far.append((hour, value))
    assert merged(arrival).profile["person.title"] == max(updates)[1]


def test_values_replaced_before_the_horizon_are_forgotten() -> None:
    changes = [(hour, TITLES[hour % 2]) for hour in range(10)]
    state = merged(changes, horizon_ms=7 * HOUR_MS)
    assert [start for start, _ in state.profile_runs["person.title"]] == [
        7 * HOUR_MS,
        8 * HOUR_MS,
        9 * HOUR_MS,
    ]
    many = merged(changes)
    assert len(many.profile_runs["person.title"]) == profile.RUNS_KEPT


def test_a_field_set_once_keeps_no_history() -> None:
    state, _ = replay([good_fit("L", at(0)), profile_update("L", at(1), source="webinar")], ACME)
    assert state.profile_runs == {}


ODD_HOURS = st.integers(0, 10 * 24).map(lambda half: 2 * half + 1)
EVEN_HOURS = st.integers(1, 10 * 24).map(lambda half: 2 * half)
DELAYS = st.integers(0, 3 * 24)


def _crossings(outputs: list[Any]) -> list[MqlCrossed]:
    return [output for output in outputs if isinstance(output, MqlCrossed)]


@settings(max_examples=300, deadline=None)
@given(
    titles=st.lists(
        st.tuples(ODD_HOURS, st.sampled_from(TITLES)), max_size=3, unique_by=lambda t: t[0]
    ),
    visits=st.lists(st.tuples(EVEN_HOURS, DELAYS), max_size=6),
    demos=st.lists(st.tuples(EVEN_HOURS, DELAYS), max_size=1),
)
def test_behaviour_read_after_a_newer_title_change_is_scored_with_the_title_it_came_with(
    titles: list[tuple[int, str]], visits: list[tuple[int, int]], demos: list[tuple[int, int]]
) -> None:
    """Page visits, the busiest topic, lag the profile topic: a title change is read before
    the visits that came before it. The lead crosses iff it does in time order, scored with
    the title it had then; it may cross later than in time order, never earlier (a stream
    cannot take back an MQL it published).

    Each behaviour event is read some hours after its time. (The other way round, a profile
    update read after newer behaviour, cannot be undone: that behaviour was scored with the
    profile known when it was read. And at one moment, whether the title changed before or
    after a visit is not known: profile updates get odd hours, behaviour even ones.)"""
    known = good_fit("L", at(0))
    changes = sorted(titles)
    read_at = [(h, profile_update("L", at(hours=h), person={"title": t})) for h, t in changes]
    read_at += [(h + delay, visit("L", at(hours=h))) for h, delay in visits]
    read_at += [(h + delay, demo("L", at(hours=h))) for h, delay in demos]
    arrival = [event for _, event in sorted(read_at, key=lambda read: read[0])]
    in_time_order = sorted(arrival, key=lambda event: event.occurred_ms)
    timely = _crossings(replay([known, *in_time_order], ACME)[1])
    late = _crossings(replay([known, *arrival], ACME)[1])
    assert [c.event_id for c in late] == [c.event_id for c in timely]
    for crossing, in_order in zip(late, timely, strict=True):
        assert crossing.occurred_at >= in_order.occurred_at
        hour = int((crossing.occurred_at - at()).total_seconds() // 3600)
        vp_then = held_at([(0, "VP of Marketing"), *changes], hour) != "Marketing Engineer"
        assert ("vp_or_above" in {c.rule for c in crossing.contributions}) == vp_then


def test_a_visit_read_after_a_title_change_is_scored_with_the_title_it_came_with() -> None:
    """The lead-0000450 case of the benchmark: a VP views pricing twice, then the title
    changes to an engineer's, and the profile topic is read first."""
    known = good_fit("L", at(0))
    views = [visit("L", at(1)), visit("L", at(2))]
    demoted = profile_update("L", at(3), person={"title": "Marketing Engineer"})
    in_time_order = [
        c for c in replay([known, *views, demoted], ACME)[1] if isinstance(c, MqlCrossed)
    ]
    profile_first = [
        c for c in replay([known, demoted, *views], ACME)[1] if isinstance(c, MqlCrossed)
    ]
    assert (
        [c.occurred_at for c in profile_first] == [c.occurred_at for c in in_time_order] == [at(2)]
    )
    assert profile_first[0].score == in_time_order[0].score
