"""The whole lead lifecycle end to end on the real broker, with the default definition's
queues: stage changes, routing and SLA breaches found by the worker's own timer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamproc.domain.events import InputEvent
from streamproc.worker_process import WorkerProcess
from tests.builders import action, demo, good_fit
from tests.integration.conftest import start_worker, worker_settings
from tests.integration.kafka_io import (
    OutputCollector,
    new_lead,
    send_events,
    wait_until_processed,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EMEA = {"name": "Fit GmbH", "employees": 300, "industry": "saas", "country": "DE"}


def ago(hours: float) -> datetime:
    """A recent event time: the SLA timer compares deadlines with the wall clock."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)


async def send(worker: WorkerProcess, *events: InputEvent) -> None:
    await send_events(worker.settings, *events)


def stages(outputs: OutputCollector, lead: str) -> list[tuple[str, str]]:
    return [(c["from_stage"], c["to_stage"]) for c in outputs.of(lead, "lead-stage-changes")]


async def test_a_lead_walks_from_visitor_to_customer(
    default_worker: WorkerProcess, default_outputs: OutputCollector
) -> None:
    lead = new_lead()
    await send(
        default_worker,
        good_fit(lead, ago(10), company=EMEA),
        demo(lead, ago(9)),
        action(lead, ago(8), "accept", rep_id="rep-chloe"),
        action(lead, ago(7), "qualify", rep_id="rep-chloe", qualification={"budget": "confirmed"}),
        action(lead, ago(6), "contacted", rep_id="rep-chloe"),
        action(lead, ago(5), "open_opportunity", rep_id="rep-chloe", amount=48000),
        action(lead, ago(1), "close_won", rep_id="rep-chloe"),
    )
    await default_outputs.wait_for(lambda: len(stages(default_outputs, lead)) == 6)
    assert stages(default_outputs, lead) == [
        ("visitor", "lead"),
        ("lead", "mql"),
        ("mql", "sal"),
        ("sal", "sql"),
        ("sql", "opportunity"),
        ("opportunity", "customer"),
    ]
    changes = default_outputs.of(lead, "lead-stage-changes")
    assert [c["actor"] for c in changes] == [
        "system",
        "system",
        "rep-chloe",
        "rep-chloe",
        "rep-chloe",
        "rep-chloe",
    ]
    [routed] = default_outputs.of(lead, "lead-routing")
    assert (routed["queue"], routed["rule"]) == ("mid-market-emea", "mid_market_emea")
    assert routed["rep_id"] in {"rep-chloe", "rep-emil"}  # rep-dario is marked unavailable
    await wait_until_processed(default_worker.settings)
    assert default_outputs.of(lead, "sla-breaches") == []


async def test_an_untouched_mql_breaches_within_seconds(
    default_worker: WorkerProcess, default_outputs: OutputCollector
) -> None:
    lead = new_lead()
    booked = demo(lead, ago(30))
    await send(default_worker, good_fit(lead, ago(31), company=EMEA), booked)
    await default_outputs.wait_for(
        lambda: len(default_outputs.of(lead, "sla-breaches")) == 1, timeout=20
    )
    [breach] = default_outputs.of(lead, "sla-breaches")
    assert (breach["sla"], breach["stage"], breach["queue"]) == (
        "mql_review",
        "mql",
        "mid-market-emea",
    )
    assert breach["deadline"] == (booked.occurred_at + timedelta(hours=24)).isoformat().replace(
        "+00:00", "Z"
    )
    await asyncio.sleep(3)  # further timer rounds publish nothing more
    assert len(default_outputs.of(lead, "sla-breaches")) == 1
    # A review after the breach still moves the stage.
    await send(default_worker, action(lead, ago(0), "reject", reason_code="bad_timing"))
    await default_outputs.wait_for(lambda: ("mql", "recycled") in stages(default_outputs, lead))


async def test_an_accepted_mql_does_not_breach(
    default_worker: WorkerProcess, default_outputs: OutputCollector
) -> None:
    lead = new_lead()
    await send(
        default_worker,
        good_fit(lead, ago(3), company=EMEA),
        demo(lead, ago(2)),
        action(lead, ago(1), "accept"),
    )
    await default_outputs.wait_for(lambda: ("mql", "sal") in stages(default_outputs, lead))
    await asyncio.sleep(3)
    assert default_outputs.of(lead, "sla-breaches") == []


async def test_an_outbound_sql_never_contacted_breaches(
    default_worker: WorkerProcess, default_outputs: OutputCollector
) -> None:
    lead = new_lead()
    profile = good_fit(lead, ago(40), lane="outbound", company={**EMEA, "employees": 5000})
    await send(default_worker, profile, action(lead, ago(26), "qualify", rep_id="sdr-1"))
    await default_outputs.wait_for(
        lambda: len(default_outputs.of(lead, "sla-breaches")) == 1, timeout=20
    )
    assert stages(default_outputs, lead) == [("visitor", "lead"), ("lead", "sql")]
    [routed] = default_outputs.of(lead, "lead-routing")
    assert (routed["queue"], routed["rule"]) == ("enterprise", "enterprise_by_size")
    [breach] = default_outputs.of(lead, "sla-breaches")
    assert (breach["sla"], breach["stage"], breach["queue"]) == (
        "sql_first_touch",
        "sql",
        "enterprise",
    )


async def test_a_restart_before_the_deadline_still_gives_exactly_one_breach(
    kafka: str, tmp_path: Path
) -> None:
    settings = worker_settings(kafka, tmp_path, "default")
    lead = new_lead()
    crossed_at = datetime.now(UTC) - timedelta(hours=24) + timedelta(seconds=12)  # due in 12 s
    collector = OutputCollector(settings)
    await collector.start()
    worker = start_worker(settings, tmp_path / "worker-1.log")
    try:
        await send(
            worker,
            good_fit(lead, crossed_at - timedelta(hours=1), company=EMEA),
            demo(lead, crossed_at),
        )
        await collector.wait_for(lambda: len(collector.of(lead, "lead-routing")) == 1)
        await wait_until_processed(settings)
        worker.stop()  # before the deadline: the new worker must remember it
        assert collector.of(lead, "sla-breaches") == []
        worker = start_worker(settings, tmp_path / "worker-2.log")
        await collector.wait_for(lambda: len(collector.of(lead, "sla-breaches")) == 1, timeout=60)
        await asyncio.sleep(4)
    finally:
        worker.stop()
        await collector.stop()
    breaches: list[dict[str, Any]] = collector.of(lead, "sla-breaches")
    assert len(breaches) == 1 and breaches[0]["sla"] == "mql_review"
