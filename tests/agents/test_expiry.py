"""Expiry on the worker's tables: an expiry index entry per lead that can expire, and a tick
past the expiry deletes the lead from every table with tombstones, publishing nothing."""

from __future__ import annotations

from typing import Any

from streamproc.domain.events import ClockTicked
from streamproc.domain.state import to_ms
from streamproc.streaming.codec import encode
from streamproc.streaming.sla_timer import EXPIRY_STEP_MS, deadline_entry
from tests.agents.conftest import IngestHarness
from tests.agents.test_erasure import changelog
from tests.builders import at, good_fit, visit


async def put_event(harness: IngestHarness, topic: str, event: Any) -> None:
    await harness.put(topic, event.lead_id.encode(), encode(event))


async def tick(harness: IngestHarness, lead: str, days: float) -> None:
    await harness.put("sla-ticks", lead.encode(), encode(ClockTicked(lead_id=lead, at=at(days))))


def rounded_up(ms: int) -> int:
    return -(-ms // EXPIRY_STEP_MS) * EXPIRY_STEP_MS


async def test_a_visitor_gets_an_expiry_entry_and_a_late_tick_tombstones_it(
    harness: IngestHarness,
) -> None:
    tables = harness.pipeline.tables
    await put_event(harness, "page-visits", visit("X1", at(hours=0.5), url="https://a.test/"))
    assert tables.expiries[b"X1"] == deadline_entry(rounded_up(to_ms(at(30, hours=0.5))), 0)
    # Another visit in the same hour leaves the index alone: no second index record.
    await put_event(harness, "page-visits", visit("X1", at(hours=0.6), url="https://a.test/"))
    assert len(changelog(harness, "lead-expiries", b"X1")) == 1

    await tick(harness, "X1", 29)
    assert tables.lead_states.get(b"X1") is not None
    sent = len(harness.producer.sent)
    await tick(harness, "X1", 31)
    assert tables.lead_states.get(b"X1") is None and tables.expiries.get(b"X1") is None
    assert changelog(harness, "lead-states", b"X1")[-1] is None
    assert changelog(harness, "lead-expiries", b"X1")[-1] is None
    # Nothing published about it: only the two tombstones.
    after = [to for to, _, _, _ in harness.producer.sent[sent:]]
    assert len(after) == 2 and all(to.endswith("-changelog") for to in after)


async def test_expired_leads_are_counted_in_the_metric(harness: IngestHarness) -> None:
    await put_event(harness, "page-visits", visit("X2", at(), url="https://a.test/"))
    await tick(harness, "X2", 40)
    metrics = harness.pipeline.metrics
    assert metrics is not None
    value = metrics.registry.get_sample_value(
        "streamproc_leads_expired_total", {"definition": harness.pipeline.definition.label}
    )
    assert value == 1


async def test_an_mql_owed_a_review_has_no_expiry_entry(harness: IngestHarness) -> None:
    await put_event(harness, "lead-profiles", good_fit("X3", at()))
    assert harness.pipeline.tables.expiries.get(b"X3") is not None
    await put_event(harness, "page-visits", visit("X3", at(1)))
    await put_event(harness, "page-visits", visit("X3", at(2)))
    assert harness.pipeline.tables.expiries.get(b"X3") is None
    assert changelog(harness, "lead-expiries", b"X3")[-1] is None


async def test_the_shadow_state_expires_with_the_lead(shadow_harness: IngestHarness) -> None:
    await put_event(shadow_harness, "page-visits", visit("X4", at(), url="https://a.test/"))
    assert shadow_harness.pipeline.tables.shadow_states.get(b"X4") is not None
    await tick(shadow_harness, "X4", 31)
    assert shadow_harness.pipeline.tables.shadow_states.get(b"X4") is None
    assert changelog(shadow_harness, "shadow-states", b"X4")[-1] is None
