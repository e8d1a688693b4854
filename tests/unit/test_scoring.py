"""Fit and intent scoring: what each shipped definition gives, caps, decay, explanations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc.definitions import load_definition
from streamproc.domain.definition import Gates
from streamproc.domain.events import MqlCrossed
from streamproc.domain.scoring import can_qualify, explain, fit_points, score_lead, tally
from streamproc.domain.state import to_ms
from tests.builders import at, demo, download, good_fit, profile, replay, visit

DEFAULT = load_definition("default")
ACME = load_definition("acme")


@pytest.mark.parametrize(
    ("company", "title", "expected_fit"),
    [
        ({"employees": 120, "industry": "SaaS"}, "VP Marketing", 60),
        ({"employees": 500, "industry": "technology"}, "Chief Revenue Officer", 60),
        ({"employees": 501, "industry": "SaaS"}, "VP Marketing", 40),
        ({"employees": 49, "industry": "SaaS"}, "VP Marketing", 40),
        ({"employees": 120, "industry": "retail"}, "VP Marketing", 40),
        ({"employees": 120, "industry": "SaaS"}, "Marketing Manager", 40),
        ({"employees": 120}, None, 20),
        ({}, None, 0),
    ],
)
def test_acme_fit(company: dict[str, object], title: str | None, expected_fit: float) -> None:
    person = {"title": title} if title else {}
    lead = profile("L", at(), email="x@y.test", company=company, person=person)
    state, _ = replay([lead], ACME)
    assert score_lead(state.profile, {}, ACME, to_ms(at())).score.fit == expected_fit


def test_a_stated_seniority_wins_over_the_title() -> None:
    lead = good_fit("L", at(), person={"title": "VP Sales", "seniority": "manager"})
    state, _ = replay([lead], ACME)
    assert score_lead(state.profile, {}, ACME, to_ms(at())).score.fit == 40


@pytest.mark.parametrize(
    ("signals", "gate", "crosses"),
    [
        ([demo], "demo_booked>=1", True),
        ([download], "roi_calculator_download>=1", True),
        ([visit, visit], "pricing_page_view>=2", True),
        ([visit], None, False),
        ([lambda lead, when: visit(lead, when, url="https://acme.test/blog")], None, False),
    ],
)
def test_acme_needs_fit_and_one_strong_signal(
    signals: list, gate: str | None, crosses: bool
) -> None:  # type: ignore[type-arg]
    events = [good_fit("L", at()), *(make("L", at(hours=i + 1)) for i, make in enumerate(signals))]
    _, outputs = replay(events, ACME)
    crossed = [o for o in outputs if isinstance(o, MqlCrossed)]
    assert bool(crossed) is crosses
    if crosses:
        assert crossed[0].gates_met == ("fit>=60", gate)


def test_a_lead_without_intent_crosses_only_when_its_fit_alone_qualifies() -> None:
    """Deciding skips scoring a lead with no kept hit unless its fit alone could qualify."""
    fit_alone = ACME.model_copy(update={"gates": Gates()})  # fit up to 60 of 60, no gates
    state, outputs = replay([good_fit("L", at())], fit_alone)
    assert state.stage == "mql"
    assert [o.score.total for o in outputs if isinstance(o, MqlCrossed)] == [60.0]
    fit = fit_points(state.profile, fit_alone)
    assert can_qualify(fit, fit_alone, any_hits=False)
    assert not can_qualify(fit_points(state.profile, DEFAULT), DEFAULT, any_hits=False)
    state, outputs = replay([good_fit("L", at())], DEFAULT)
    assert state.stage == "lead" and not outputs[1:]


def test_acme_poor_fit_never_crosses_however_strong_the_intent() -> None:
    events = [
        good_fit("L", at(), company={"employees": 5000, "industry": "SaaS"}),
        demo("L", at(hours=1)),
        download("L", at(hours=2)),
        visit("L", at(hours=3)),
        visit("L", at(hours=4)),
    ]
    _, outputs = replay(events, ACME)
    assert not [o for o in outputs if isinstance(o, MqlCrossed)]


def test_default_caps_intent_per_category_and_in_total() -> None:
    views = [visit("L", at(hours=h)) for h in range(6)]  # 6 x 10 points, pricing cap 20
    state, _ = replay([*views, demo("L", at(hours=7)), download("L", at(hours=8))], DEFAULT)
    evaluation = score_lead(state.profile, state.hits, DEFAULT, to_ms(at(hours=8)))
    points = {c.rule: c.points for c in evaluation.contributions}
    assert points["pricing_page_views"] <= 20
    assert evaluation.score.intent == 50  # demo + pricing reach the intent maximum ...
    assert points["roi_calculator"] < 0.1  # ... so the ROI calculator fills only what decay freed


def test_default_decays_intent_with_a_30_day_half_life() -> None:
    state, _ = replay([demo("L", at())], DEFAULT)
    fresh = score_lead(state.profile, state.hits, DEFAULT, to_ms(at())).score.intent
    month_old = score_lead(state.profile, state.hits, DEFAULT, to_ms(at(days=29.999))).score.intent
    assert fresh == 30
    assert month_old == pytest.approx(15, abs=0.01)


def test_the_default_crosses_for_a_good_fit_lead_viewing_pricing_twice() -> None:
    events = [good_fit("L", at()), visit("L", at(hours=1)), visit("L", at(hours=2))]
    _, outputs = replay(events, DEFAULT)
    [crossed] = [o for o in outputs if isinstance(o, MqlCrossed)]
    assert crossed.score.total >= DEFAULT.threshold
    assert crossed.definition == "default@1"
    assert crossed.gates_met == ("pricing_page_view>=2",)


kinds = st.sampled_from(
    [demo, download, visit, lambda lead, when: visit(lead, when, url="/product")]
)


@settings(max_examples=100, deadline=None)
@given(
    makers=st.lists(kinds, max_size=12),
    employees=st.integers(min_value=0, max_value=20000),
    title=st.sampled_from(["CEO", "VP Sales", "Director of IT", "Engineer", "Team Lead"]),
    hours=st.integers(min_value=0, max_value=2000),
)
def test_contributions_explain_the_score_exactly(
    makers: list, employees: int, title: str, hours: int
) -> None:  # type: ignore[type-arg]
    lead = profile(
        "L",
        at(),
        email="a@b.test",
        company={"employees": employees, "industry": "saas"},
        person={"title": title},
    )
    events = [lead, *(make("L", at(hours=i * 7)) for i, make in enumerate(makers))]
    for definition in (DEFAULT, ACME):
        state, _ = replay(events, definition)
        evaluation = score_lead(state.profile, state.hits, definition, to_ms(at(hours=hours)))
        score = evaluation.score
        fit = sum(c.points for c in evaluation.contributions if c.kind == "fit")
        intent = sum(c.points for c in evaluation.contributions if c.kind == "intent")
        assert fit == pytest.approx(score.fit, abs=1e-9)
        assert intent == pytest.approx(score.intent, abs=1e-9)
        assert 0 <= score.fit <= definition.fit.max_points
        assert 0 <= score.intent <= definition.intent.max_points
        assert score.total == pytest.approx(score.fit + score.intent, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    makers=st.lists(kinds, max_size=12),
    employees=st.integers(min_value=0, max_value=20000),
    title=st.sampled_from(["CEO", "VP Sales", "Director of IT", "Engineer", "Team Lead"]),
    country=st.sampled_from(["US", "FR", "BR"]),
    hours=st.integers(min_value=0, max_value=2000),
)
def test_a_fit_too_poor_to_qualify_never_qualifies_whatever_the_intent(
    makers: list, employees: int, title: str, country: str, hours: int
) -> None:  # type: ignore[type-arg]
    """`can_qualify` lets deciding skip scoring: it must never skip a lead that qualifies."""
    lead = profile(
        "L",
        at(),
        email="a@b.test",
        company={"employees": employees, "industry": "retail", "country": country},
        person={"title": title},
    )
    events = [lead, *(make("L", at(hours=i)) for i, make in enumerate(makers))]
    for definition in (DEFAULT, ACME, load_definition("series-b")):
        state, _ = replay(events, definition)
        fit = fit_points(state.profile, definition)
        scored = tally(fit, state.hits, definition, to_ms(at(hours=hours)))
        if not can_qualify(fit, definition):
            assert not scored.qualifies
        if not can_qualify(fit, definition, any_hits=False):
            assert not tally(fit, {}, definition, to_ms(at(hours=hours))).qualifies
        assert explain(scored, definition) == score_lead(
            state.profile, state.hits, definition, to_ms(at(hours=hours))
        )
