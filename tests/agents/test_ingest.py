"""The ingest path on Faust's tables: decode, decide, send, store; bad input to dead-letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError

from streamproc.domain.events import TOPIC_OF_INPUT, ClockTicked
from streamproc.domain.state import LeadState
from streamproc.streaming.codec import encode
from tests.agents.conftest import IngestHarness
from tests.builders import at, demo, good_fit, visit


async def put_event(harness: IngestHarness, topic: str, event: Any) -> None:
    await harness.put(topic, event.lead_id.encode(), encode(event))


async def test_an_acme_lead_crosses_and_its_state_is_stored(harness: IngestHarness) -> None:
    await put_event(harness, "lead-profiles", good_fit("L1", at()))
    await put_event(harness, "page-visits", visit("L1", at(1)))
    await put_event(harness, "page-visits", visit("L1", at(2)))
    [crossed] = harness.sent_to("mql-crossed")
    assert crossed["lead_id"] == "L1" and crossed["score"] == {
        "fit": 60.0,
        "intent": 10.0,
        "total": 70.0,
    }
    assert [(c["from_stage"], c["to_stage"]) for c in harness.sent_to("lead-stage-changes")] == [
        ("visitor", "lead"),
        ("lead", "mql"),
    ]
    outputs = [to for to, _, _, _ in harness.producer.sent if not to.endswith("-changelog")]
    assert len(outputs) == 4 and all(
        key == b"L1" for to, key, _, _ in harness.producer.sent if to in outputs
    )
    state = LeadState.model_validate_json(harness.pipeline.tables.lead_states[b"L1"])
    assert (state.stage, state.crossings) == ("mql", 1)


async def test_a_duplicate_is_reported_and_not_stored_again(harness: IngestHarness) -> None:
    view = visit("L2", at())
    await put_event(harness, "page-visits", view)
    outcome = await harness.put("page-visits", b"L2", encode(view))
    assert outcome.duplicate and outcome.outputs == ()


async def test_bad_input_goes_to_dead_letters_and_the_next_event_is_processed(
    harness: IngestHarness, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await harness.put("page-visits", b"L3", b"{oops")
    assert outcome.error is not None
    [logged] = [r for r in caplog.records if "dead-letters" in r.getMessage()]
    place = (logged.topic, logged.partition, logged.offset)  # type: ignore[attr-defined]
    assert place == ("agent-test.page-visits", 0, outcome.offset)
    assert "oops" not in logged.getMessage()
    [letter] = harness.sent_to("dead-letters")
    assert letter["topic"] == "agent-test.page-visits"
    assert letter["value"] == "{oops"
    assert "not valid JSON" in letter["error"]
    await put_event(harness, "lead-profiles", good_fit("L3", at()))
    assert [c["to_stage"] for c in harness.sent_to("lead-stage-changes")] == ["lead"]


async def test_a_disallowed_sales_action_is_a_dead_letter_naming_stage_and_action(
    harness: IngestHarness,
) -> None:
    action = {
        "event_id": "a1",
        "lead_id": "L4",
        "occurred_at": at().isoformat(),
        "action": "close_won",
        "rep_id": "r",
    }
    value = orjson.dumps(action)
    await harness.put("sales-actions", b"L4", value)
    assert harness.sent_to("dead-letters") == []  # it waits for an event that may allow it
    waited = datetime.now(UTC) + timedelta(seconds=harness.pipeline.settings.action_grace + 1)
    await harness.put("sla-ticks", b"L4", encode(ClockTicked(lead_id="L4", at=waited)))
    [letter] = harness.sent_to("dead-letters")
    assert letter["error"].startswith("action close_won is not allowed for a lead in stage visitor")
    assert (letter["topic"], letter["value"], letter["key"]) == (
        "agent-test.sales-actions",
        value.decode(),
        "L4",
    )
    state = LeadState.model_validate_json(harness.pipeline.tables.lead_states[b"L4"])
    assert (state.stage, state.parked, state.transitions) == ("visitor", (), 0)
    assert b"L4" not in harness.pipeline.tables.deadlines


async def test_a_tick_after_the_deadline_publishes_one_breach_and_clears_the_index(
    harness: IngestHarness,
) -> None:
    await put_event(harness, "lead-profiles", good_fit("L5", at()))
    await put_event(harness, "page-visits", visit("L5", at(1)))
    await put_event(harness, "page-visits", visit("L5", at(2)))
    [routed] = harness.sent_to("lead-routing")
    assert (routed["queue"], routed["rep_id"]) == ("acme-inbound", "acme-rep-1")
    deadlines = harness.pipeline.tables.deadlines
    assert deadlines[b"L5"] == f"{round(at(3).timestamp() * 1000)}:0".encode()
    tick = ClockTicked(lead_id="L5", at=at(3, hours=1))
    await harness.put("sla-ticks", b"L5", encode(tick))
    await harness.put("sla-ticks", b"L5", encode(tick))
    [breach] = harness.sent_to("sla-breaches")
    assert (breach["sla"], breach["queue"], breach["deadline"]) == (
        "mql_review",
        "acme-inbound",
        "2026-03-05T09:00:00Z",
    )
    assert b"L5" not in deadlines


async def test_round_robin_is_kept_per_partition(harness: IngestHarness) -> None:
    for lead in ("R1", "R2", "R3"):
        await put_event(harness, "lead-profiles", good_fit(lead, at()))
        await put_event(harness, "demo-bookings", demo(lead, at(1)))
    assert [r["rep_id"] for r in harness.sent_to("lead-routing")] == [
        "acme-rep-1",
        "acme-rep-2",
        "acme-rep-1",
    ]
    assert b"0" in harness.pipeline.tables.rotations  # the test context delivers on partition 0


async def test_a_shadow_definition_publishes_its_crossings_and_drives_nothing(
    shadow_harness: IngestHarness,
) -> None:
    enterprise = good_fit(
        "S1", at(), company={"employees": 5000, "industry": "saas", "country": "US"}
    )
    await put_event(shadow_harness, "lead-profiles", enterprise)  # too big for Acme's fit
    await put_event(shadow_harness, "demo-bookings", demo("S1", at(1)))
    [crossed] = shadow_harness.sent_to("mql-crossed-shadow")
    assert (crossed["definition"], crossed["crossing"]) == ("default@1", 1)
    assert shadow_harness.sent_to("mql-crossed") == []
    assert [c["to_stage"] for c in shadow_harness.sent_to("lead-stage-changes")] == ["lead"]
    assert shadow_harness.sent_to("lead-routing") == []
    live = LeadState.model_validate_json(shadow_harness.pipeline.tables.lead_states[b"S1"])
    assert live.stage == "lead"


async def test_a_batch_writes_each_lead_once_after_its_outputs(harness: IngestHarness) -> None:
    events = [good_fit("B1", at()), visit("B1", at(1)), visit("B1", at(2)), visit("B2", at(1))]
    records = [
        harness.record(TOPIC_OF_INPUT[type(event)], event.lead_id.encode(), encode(event))
        for event in events
    ]
    await harness.put_batch(records)
    assert harness.changelog_records("lead-states") == [(b"B1", 0), (b"B2", 0)]
    sent = [to for to, _, _, _ in harness.producer.sent]
    assert sent.index(harness.pipeline.settings.topic("mql-crossed")) < sent.index(
        harness.pipeline.app.conf.id + "-lead-states-changelog"
    )
    state = LeadState.model_validate_json(harness.pipeline.tables.lead_states[b"B1"])
    assert state.stage == "mql"


async def test_nothing_is_stored_when_the_broker_does_not_acknowledge(
    harness: IngestHarness,
) -> None:
    harness.producer.failure = KafkaTimeoutError()
    with pytest.raises(KafkaTimeoutError):
        await put_event(harness, "lead-profiles", good_fit("N1", at()))
    assert harness.pipeline.tables.lead_states.get(b"N1") is None
    # The state's changelog record waits for the outputs: none was sent.
    assert harness.changelog_records("lead-states") == []
    harness.producer.failure = None
    await put_event(harness, "lead-profiles", good_fit("N1", at()))  # read again: applied once
    assert [c["to_stage"] for c in harness.sent_to("lead-stage-changes")] == ["lead", "lead"]
    state = LeadState.model_validate_json(harness.pipeline.tables.lead_states[b"N1"])
    assert state.transitions == 1


async def test_a_state_the_table_got_from_elsewhere_is_the_one_the_next_batch_applies_to(
    harness: IngestHarness,
) -> None:
    # Batches reuse the states they decoded or wrote, but only while the table holds them:
    # after a recovery (here: another worker's state for the lead) the table's state counts.
    await put_event(harness, "lead-profiles", good_fit("R1", at()))
    table = harness.pipeline.tables.lead_states
    ours = LeadState.model_validate_json(table[b"R1"])
    theirs = ours.evolve(crossings=3)
    table.data[b"R1"] = encode(theirs)  # as recovery writes it: to the store
    await put_event(harness, "page-visits", visit("R1", at(1)))
    after = LeadState.model_validate_json(table[b"R1"])
    assert after.crossings == 3 and len(after.countable_hits) > len(ours.countable_hits)
