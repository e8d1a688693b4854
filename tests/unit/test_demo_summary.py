"""What the demo prints for the worker's outputs, from hand-made records."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from streamproc.demo_summary import (
    Console,
    OutputWatcher,
    Tally,
    describe_breach,
    describe_routing,
    describe_stage_change,
)
from streamproc.domain.events import LeadRouted, OutputEvent, SlaBreached, Stage, StageChanged
from streamproc.settings import Settings

AT = datetime(2026, 1, 5, 14, 3, 27, tzinfo=UTC)


def routed(rep_id: str | None = "rep-ava") -> LeadRouted:
    return LeadRouted(
        event_id="r1",
        lead_id="lead-00042",
        occurred_at=AT,
        queue="enterprise",
        rule="enterprise_by_size",
        rep_id=rep_id,
    )


def breach() -> SlaBreached:
    return SlaBreached(
        event_id="b1",
        lead_id="lead-00042",
        sla="mql_review",
        stage=Stage.MQL,
        started_at=AT.astimezone(timezone(timedelta(hours=2))),  # shown in UTC all the same
        deadline=AT + timedelta(hours=24),
        detected_at=AT + timedelta(hours=30),
        queue="enterprise",
    )


def change(to: Stage, source: Stage = Stage.SAL, reason: str | None = None) -> StageChanged:
    return StageChanged(
        event_id=f"s-{to}",
        lead_id="lead-00042",
        occurred_at=AT,
        from_stage=source,
        to_stage=to,
        cause_event_id="lead-00042-17",
        reason_code=reason,
        actor="rep-ava",
    )


def test_a_routing_decision_names_queue_rule_and_rep() -> None:
    assert describe_routing(routed()) == (
        "lead-00042 -> enterprise (rule enterprise_by_size), rep rep-ava"
    )
    assert describe_routing(routed(None)).endswith("(rule enterprise_by_size), no rep available")


def test_a_breach_names_the_sla_its_start_and_deadline_in_utc_and_the_queue() -> None:
    assert describe_breach(breach()) == (
        "lead-00042 mql_review missed: MQL at 2026-01-05 14:03Z, "
        "deadline 2026-01-06 14:03Z, queue enterprise"
    )


def test_a_stage_change_names_the_actor_and_the_reason_when_there_is_one() -> None:
    assert describe_stage_change(change(Stage.SQL)) == "lead-00042 sal -> sql by rep-ava"
    recycled = change(Stage.RECYCLED, Stage.MQL, "wrong_icp")
    assert describe_stage_change(recycled) == (
        "lead-00042 mql -> recycled by rep-ava, reason wrong_icp"
    )


@pytest.fixture
def watcher() -> OutputWatcher:
    return OutputWatcher(Settings(topic_prefix="demo-1."), {}, Tally(), Console())


def _show(watcher: OutputWatcher, topic: str, event: OutputEvent) -> None:
    watcher.show(topic, event.model_dump_json().encode())


def test_the_watcher_prints_routing_breaches_and_stages_past_mql(
    watcher: OutputWatcher, capsys: pytest.CaptureFixture[str]
) -> None:
    _show(watcher, "lead-routing", routed())
    _show(watcher, "sla-breaches", breach())
    for to, source in [
        (Stage.LEAD, Stage.VISITOR),
        (Stage.MQL, Stage.LEAD),
        (Stage.SAL, Stage.MQL),
        (Stage.SQL, Stage.SAL),
        (Stage.CUSTOMER, Stage.OPPORTUNITY),
    ]:
        _show(watcher, "lead-stage-changes", change(to, source))
    lines = [re.sub(r"^\[\s*[\d.]+s\] ", "", line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        "ROUTE   lead-00042 -> enterprise (rule enterprise_by_size), rep rep-ava",
        "SLA     lead-00042 mql_review missed: MQL at 2026-01-05 14:03Z, "
        "deadline 2026-01-06 14:03Z, queue enterprise",
        "STAGE   lead-00042 mql -> sal by rep-ava",
        "STAGE   lead-00042 sal -> sql by rep-ava",
        "STAGE   lead-00042 opportunity -> customer by rep-ava",
    ]


def test_counts_and_summary_include_routing_breaches_and_stages_reached(
    watcher: OutputWatcher,
) -> None:
    _show(watcher, "lead-routing", routed())
    _show(watcher, "lead-routing", routed(None))
    _show(watcher, "sla-breaches", breach())
    _show(watcher, "lead-stage-changes", change(Stage.SQL))
    _show(watcher, "lead-stage-changes", change(Stage.RECYCLED, Stage.SQL, "no_budget"))
    counts = watcher.tally.counts()
    assert "| lead-routing 2 |" in counts
    assert "| lead-stage-changes 2 (sql 1, recycled 1) |" in counts
    assert "| sla-breaches 1 |" in counts
    summary = watcher.tally.summary(12.0)
    assert "routed         2 (enterprise 2)" in summary
    assert "stage changes  2 (sql 1, recycled 1)" in summary
    assert "SLA breaches   1 (mql_review 1)" in summary
