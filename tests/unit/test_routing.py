"""Routing: the first matching rule picks the queue; reps of a queue take turns."""

from __future__ import annotations

import pytest

from streamproc.definitions import load_definition
from streamproc.domain.events import LeadRouted, Stage
from streamproc.domain.lead import decide
from streamproc.domain.lifecycle import QualificationError
from streamproc.domain.routing import assign_rep, pick_rule
from streamproc.domain.state import LeadState, Rotation
from tests.builders import action, at, demo, good_fit, replay, visit

DEFAULT = load_definition("default")
SERIES_B = load_definition("series-b")


@pytest.mark.parametrize(
    ("profile", "rule", "queue"),
    [
        ({"company.employees": 5000, "company.country": "DE"}, "enterprise_by_size", "enterprise"),
        ({"company.employees": 300, "company.country": "de"}, "mid_market_emea", "mid-market-emea"),
        (
            {"company.employees": 300, "company.country": "US"},
            "mid_market_other_regions",
            "mid-market-americas",
        ),
        ({"company.employees": 300}, "mid_market_other_regions", "mid-market-americas"),
        ({"company.employees": 12, "company.country": "DE"}, "everyone_else", "smb"),
        ({}, "everyone_else", "smb"),
    ],
)
def test_the_first_matching_rule_wins(profile: dict[str, object], rule: str, queue: str) -> None:
    picked = pick_rule(profile, DEFAULT)  # type: ignore[arg-type]
    assert (picked.rule, picked.queue) == (rule, queue)


def test_reps_take_turns_and_unavailable_reps_are_skipped() -> None:
    rotation, assigned = Rotation(), []
    for _ in range(5):
        rep, rotation = assign_rep("mid-market-emea", DEFAULT, rotation)
        assigned.append(rep)
    assert assigned == [
        "rep-chloe",
        "rep-emil",
        "rep-chloe",
        "rep-emil",
        "rep-chloe",
    ]  # dario is away
    rep, after = assign_rep("enterprise", DEFAULT, rotation)
    assert (
        rep == "rep-ava"
        and after.next_rep["mid-market-emea"] == rotation.next_rep["mid-market-emea"]
    )


def test_an_mql_is_routed_once_with_the_rule_and_the_rep() -> None:
    events = [
        good_fit("L", at(), company={"employees": 300, "industry": "saas", "country": "FR"}),
        demo("L", at(hours=1)),
    ]
    state, outputs = replay(events, DEFAULT)
    [routed] = [o for o in outputs if isinstance(o, LeadRouted)]
    assert (routed.queue, routed.rule, routed.rep_id) == (
        "mid-market-emea",
        "mid_market_emea",
        "rep-chloe",
    )
    assert routed.occurred_at == at(hours=1)
    assert state.queue == "mid-market-emea" and state.sla_clocks[0].queue == "mid-market-emea"


def test_an_outbound_lead_qualified_straight_into_sql_is_routed() -> None:
    lead = LeadState(
        lead_id="L",
        stage=Stage.LEAD,
        highest_stage=Stage.LEAD,
        profile={"lane": "outbound", "company.employees": 4000},
    )
    decision = decide(lead, action("L", at(), "qualify"), DEFAULT)
    [routed] = [o for o in decision.outputs if isinstance(o, LeadRouted)]
    assert routed.queue == "enterprise"
    assert [c.sla for c in decision.state.sla_clocks] == ["sql_first_touch"]


def series_b_mql() -> LeadState:
    profile = good_fit(
        "L", at(), company={"employees": 400, "industry": "fintech"}, person={"title": "CFO"}
    )
    views = [visit("L", at(hours=h)) for h in (1, 2, 3)]
    state, outputs = replay([profile, *views, demo("L", at(hours=4))], SERIES_B)
    assert state.stage is Stage.MQL, outputs
    return state


def test_series_b_needs_icp_fit_a_demo_and_75_points() -> None:
    profile = good_fit(
        "L", at(), company={"employees": 400, "industry": "fintech"}, person={"title": "CFO"}
    )
    views_only = replay([profile, *(visit("L", at(hours=h)) for h in range(1, 9))], SERIES_B)[0]
    assert views_only.stage is Stage.LEAD  # 50 fit + 15 pricing, and no demo
    assert series_b_mql().stage is Stage.MQL
    poor_fit = good_fit(
        "L", at(), company={"employees": 20, "industry": "retail"}, person={"title": "CFO"}
    )
    assert replay([poor_fit, demo("L", at(hours=1))], SERIES_B)[0].stage is Stage.LEAD


def test_series_b_qualifies_into_sql_only_with_the_budget_confirmed() -> None:
    sal = decide(series_b_mql(), action("L", at(hours=5), "accept"), SERIES_B).state
    with pytest.raises(
        QualificationError, match=r"qualify needs budget to be confirmed .* got unknown"
    ):
        decide(
            sal, action("L", at(hours=6), "qualify", qualification={"budget": "unknown"}), SERIES_B
        )
    qualified = decide(
        sal, action("L", at(hours=6), "qualify", qualification={"Budget": "Confirmed"}), SERIES_B
    )
    assert qualified.state.stage is Stage.SQL
