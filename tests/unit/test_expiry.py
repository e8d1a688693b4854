"""Expiry in the domain: the definition's `retention` says when a lead's state ends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streamproc.definitions import DefinitionError, load_definition
from streamproc.definitions.loader import parse_definition
from streamproc.domain.definition import Retention
from streamproc.domain.events import ClockTicked, SlaBreached, Stage
from streamproc.domain.lead import decide
from streamproc.domain.retention import expires_at_ms, is_expired
from streamproc.domain.state import LeadState, to_ms
from tests.builders import action, at, good_fit, profile, replay, visit

ACME = load_definition("acme")
DEFAULT = ACME.retention
DAY_MS = 86_400_000


def visitor() -> LeadState:
    state, _ = replay([visit("V", at(), url="https://acme.test/")], ACME)
    assert state.stage is Stage.VISITOR
    return state


def lead() -> LeadState:
    state, _ = replay([profile("L", at(), email="a@b.test")], ACME)
    assert state.stage is Stage.LEAD and not state.sla_clocks
    return state


def mql() -> LeadState:
    """An Acme MQL: its review is owed within a day of at(2)."""
    state, _ = replay([good_fit("M", at()), visit("M", at(1)), visit("M", at(2))], ACME)
    assert state.stage is Stage.MQL and state.sla_clocks
    return state


def sql() -> LeadState:
    history = [
        good_fit("S", at()),
        visit("S", at(1)),
        visit("S", at(2)),
        action("S", at(2, hours=1), "accept"),
        action("S", at(2, hours=2), "qualify"),
        action("S", at(2, hours=3), "contacted"),
    ]
    state, _ = replay(history, ACME)
    assert state.stage is Stage.SQL and not state.sla_clocks
    return state


def tick(state: LeadState, days: float) -> ClockTicked:
    return ClockTicked(lead_id=state.lead_id, at=at(days))


def test_the_defaults_are_30_days_for_visitors_and_400_for_leads() -> None:
    assert Retention() == DEFAULT
    assert (DEFAULT.visitors, DEFAULT.leads) == (timedelta(days=30), timedelta(days=400))
    assert not DEFAULT.expire_owing_sla and not DEFAULT.expire_past_sql


def test_a_visitor_expires_30_days_after_its_newest_activity() -> None:
    state = visitor()
    assert expires_at_ms(state, DEFAULT) == to_ms(at(30))
    assert not is_expired(state, DEFAULT, to_ms(at(30)) - 1)
    assert is_expired(state, DEFAULT, to_ms(at(30)))
    kept = decide(state, tick(state, 29.9), ACME)
    assert not kept.erase
    gone = decide(state, tick(state, 30), ACME)
    assert gone.erase and gone.expired and gone.outputs == ()
    assert gone.state == LeadState(lead_id="V")


def test_activity_moves_the_expiry() -> None:
    state, _ = replay([visit("V", at()), visit("V", at(20), url="https://acme.test/")], ACME)
    assert expires_at_ms(state, DEFAULT) == to_ms(at(50))


def test_a_lead_expires_400_days_after_its_newest_activity() -> None:
    state = lead()
    assert expires_at_ms(state, DEFAULT) == to_ms(at(400))
    assert not decide(state, tick(state, 399), ACME).erase
    assert decide(state, tick(state, 400), ACME).expired


def test_a_lead_owed_an_sla_reaction_is_kept_and_expires_once_it_is_breached() -> None:
    state = mql()
    assert expires_at_ms(state, DEFAULT) is None
    late = decide(state, tick(state, 5), ACME)
    # The breach its history owed is published; the lead is then no longer owed anything,
    # and expires 400 days after its newest activity.
    assert not late.erase
    assert [type(o) for o in late.outputs] == [SlaBreached]
    assert expires_at_ms(late.state, DEFAULT) == to_ms(at(2)) + 400 * DAY_MS
    assert decide(late.state, tick(state, 402), ACME).expired
    # A tick long after: the breach first, then the lead expires, in one decision.
    both = decide(state, tick(state, 500), ACME)
    assert both.expired and [type(o) for o in both.outputs] == [SlaBreached]


def test_an_owed_sla_does_not_keep_a_lead_when_the_definition_says_so() -> None:
    retention = Retention(expire_owing_sla=True)
    assert expires_at_ms(mql(), retention) == to_ms(at(2)) + 400 * DAY_MS


def test_a_lead_past_sql_is_kept_unless_the_definition_says_so() -> None:
    state = sql()
    assert expires_at_ms(state, DEFAULT) is None
    assert not decide(state, tick(state, 5000), ACME).erase
    retention = Retention(expire_past_sql=True)
    assert expires_at_ms(state, retention) == to_ms(at(2, hours=2)) + 400 * DAY_MS


def test_an_event_after_the_expiry_starts_a_new_lead_before_any_tick() -> None:
    state = visitor()
    fresh = decide(state, visit("V", at(31)), ACME)
    assert not fresh.erase and fresh.state.clock_ms == to_ms(at(31))
    assert len(fresh.state.hits.get("pricing_views", ())) <= 1
    kept = decide(state, visit("V", at(29)), ACME)
    assert kept.state.clock_ms == to_ms(at(29))


def test_an_event_long_after_an_unticked_breach_starts_a_new_lead_as_a_replay_does() -> None:
    # Read before the SLA tick (a worker catching up on a backlog): the breach is published,
    # and the lead, which expired 400 days after its activity, starts anew with this event.
    late = decide(mql(), visit("M", at(403)), ACME)
    assert [type(o) for o in late.outputs] == [SlaBreached]
    assert (late.state.stage, late.state.crossings) == (Stage.VISITOR, 0)
    assert late.state.clock_ms == to_ms(at(403))
    kept = decide(mql(), visit("M", at(30)), ACME)
    assert [type(o) for o in kept.outputs] == [SlaBreached] and kept.state.crossings == 1


def test_a_tick_for_a_lead_not_held_keeps_nothing() -> None:
    decision = decide(None, ClockTicked(lead_id="gone", at=at(100)), ACME)
    assert decision.duplicate and not decision.erase


def test_retention_parses_like_the_rest_of_the_definition() -> None:
    text = (
        load_definition_text() + "\nretention:\n  visitors: 1d\n  leads: 2w\n"
        "  expire_past_sql: true\n"
    )
    parsed = parse_definition(text, "test").retention
    assert parsed == Retention(
        visitors=timedelta(days=1), leads=timedelta(weeks=2), expire_past_sql=True
    )


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ("retention:\n  visitors: 0s\n", "retention.visitors"),
        ("retention:\n  leads: forever\n", "retention.leads"),
        ("retention:\n  visitor: 1d\n", "retention.visitor"),
    ],
)
def test_a_wrong_retention_names_its_field(section: str, says: str) -> None:
    with pytest.raises(DefinitionError, match=says.replace(".", r"\.")):
        parse_definition(load_definition_text() + "\n" + section, "test")


def load_definition_text() -> str:
    from streamproc.definitions.loader import _SHIPPED

    text = (_SHIPPED / "acme.yaml").read_text(encoding="utf-8")
    return "".join(line for line in text.splitlines(True) if not line.startswith("retention:"))


def test_a_backtest_expires_the_same_leads_and_counts_them() -> None:
    from streamproc.backtest.engine import replay as backtest

    history = [
        visit("V1", at(), url="https://acme.test/"),
        visit("V2", at(20), url="https://acme.test/"),
        visit("V3", at(45), url="https://acme.test/"),  # the history's clock passes V1's expiry
    ]
    engine_result = backtest(history, ACME)
    assert engine_result.expired == 1
    assert len(engine_result.leads) == 3  # seen, all of them: the figures stay
