"""A lead's stored state stays under its limit in bytes: what it sheds, in which order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from streamproc.domain.events import ID_LENGTH, TEXT_LENGTH, ProfileUpdated, SalesActionTaken
from streamproc.domain.state import LeadState, ParkedAction, SlaClock
from streamproc.settings import Settings
from streamproc.streaming.codec import InputError, encode
from streamproc.streaming.limits import Limits
from streamproc.streaming.state_bound import MIN_STATE_BYTES, PARTS, bounded
from tests.builders import visit

WIDE = "\x01"
"""The character whose JSON is longest: `\\u0001`, six bytes."""


def test_a_state_with_nothing_left_to_shed_fits_in_the_least_limit() -> None:
    fields = {
        name
        for name in ProfileUpdated(
            event_id="e",
            lead_id="L",
            occurred_at="2026-03-02T09:00:00Z",
            email="a@b",
            company={"name": "n", "domain": "d", "industry": "i", "country": "c"},
            person={"title": "t", "seniority": "s"},
            lane="inbound",
            source="s",
        ).attributes()
    } | {"company.employees", "company.annual_revenue"}
    assert len(fields) == 11
    clocks = tuple(
        SlaClock(
            sla=sla,
            stage="mql",
            started_ms=2**62,
            entry=2**31,
            deadline_ms=2**62,
            queue=WIDE * TEXT_LENGTH,
        )
        for sla in ("mql_review", "sql_first_touch")
    )
    largest = LeadState(
        lead_id=WIDE * ID_LENGTH,
        stage="mql",
        highest_stage="customer",
        transitions=2**31,
        stage_since_ms=2**62,
        crossings=2**31,
        clock_ms=2**62,
        profile={name: WIDE * TEXT_LENGTH for name in fields},
        profile_times={name: 2**62 for name in fields},
        intent_since_ms=2**62,
        queue=WIDE * TEXT_LENGTH,
        sla_clocks=clocks,
    )
    assert len(encode(largest)) < MIN_STATE_BYTES


def action(number: int, answer: str) -> ParkedAction:
    taken = SalesActionTaken(
        event_id=f"a{number}",
        lead_id="L",
        occurred_at="2026-03-02T09:00:00Z",
        action="accept",
        qualification={f"q{i}": answer for i in range(32)},
    )
    origin = {"topic": "sales-actions", "partition": 0, "offset": number, "key": "L", "value": ""}
    return ParkedAction(action=taken, origin=origin, expires_ms=number, reason="not yet")


def test_a_state_under_its_limit_is_stored_as_it_is() -> None:
    state = LeadState(lead_id="L", hits={"demo": ((1, "e1"),)}, parked=(action(1, "yes"),))
    fitted = bounded(state, 32_768)
    assert fitted.state is state and fitted.value == encode(state) and not fitted.shed


def test_it_sheds_the_oldest_hits_first_then_runs_then_parked_then_action_ids() -> None:
    hits = {"pricing": tuple((t, f"p{t:0250d}") for t in range(0, 200, 2))}
    hits["demo"] = tuple((t, f"d{t:0250d}") for t in range(1, 200, 2))
    state = LeadState(
        lead_id="L",
        hits=hits,
        profile_runs={"person.title": ((1, "x" * 200), (2, "y" * 200))},
        parked=tuple(action(n, "z" * 250) for n in range(8)),
        action_ids=tuple(f"a{n:0250d}" for n in range(32)),
    )
    size = len(encode(state))
    fitted = bounded(state, size - 10_000)
    assert set(fitted.shed) == {"hits"} and len(fitted.value) <= size - 10_000
    kept = sorted(t for found in fitted.state.hits.values() for t, _ in found)
    assert kept == list(range(200 - len(kept), 200))  # the newest
    fitted = bounded(state, 40_000)
    assert list(fitted.shed) == ["hits", "profile_runs", "parked"]
    assert fitted.shed["parked"] == len(fitted.parked)
    assert [p.expires_ms for p in fitted.parked] == list(range(len(fitted.parked)))
    assert len(fitted.value) <= 40_000 and fitted.state.action_ids == state.action_ids
    assert LeadState.model_validate_json(fitted.value) == fitted.state
    assert list(bounded(state, 4_000).shed) == list(PARTS)


def test_the_settings_defaults_are_the_limits_defaults_and_the_least_limit_holds() -> None:
    assert Limits.of(Settings()) == Limits()
    Settings(max_state_bytes=MIN_STATE_BYTES)
    with pytest.raises(ValidationError):
        Settings(max_state_bytes=MIN_STATE_BYTES - 1)


def test_an_event_a_day_ahead_of_the_clock_is_taken_and_one_further_ahead_refused() -> None:
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    limits = Limits()
    limits.check_time(visit("L", now + timedelta(days=1)), now)
    limits.check_time(visit("L", datetime(1971, 1, 1, tzinfo=UTC)), now)  # history: taken
    with pytest.raises(InputError) as refused:
        limits.check_time(visit("L", datetime(2899, 1, 1, tzinfo=UTC)), now)
    assert str(refused.value) == (
        "occurred_at 2899-01-01T00:00:00+00:00 is 318,796 days ahead of the worker's clock "
        "(2026-03-02T09:00:00+00:00); an event more than 1 day ahead is refused "
        "(STREAMPROC_MAX_FUTURE), as it would move the lead's clock past every real event"
    )
    with pytest.raises(InputError, match=r"is 2.5 hours ahead .* more than 1 hour ahead"):
        Limits(future_ms=3_600_000).check_time(visit("L", now + timedelta(hours=2.5)), now)
