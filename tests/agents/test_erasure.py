"""Erasure on the worker's tables: state and deadlines deleted, tombstones in the changelogs
after `lead-erased` is acknowledged, nothing owed any more, with both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from streamproc.domain.events import ClockTicked
from streamproc.domain.state import LeadState
from streamproc.settings import Settings
from streamproc.streaming.codec import encode
from streamproc.streaming.lead_batch import DecodedStates, LeadBatch
from streamproc.streaming.sla_timer import PartitionClocks
from tests.agents.conftest import IngestHarness, _harness
from tests.builders import action, at, erasure, good_fit, visit


async def put_event(harness: IngestHarness, topic: str, event: Any) -> None:
    await harness.put(topic, event.lead_id.encode(), encode(event))


async def owed_and_parked(harness: IngestHarness, lead: str) -> None:
    """An Acme MQL whose review is owed, with a `close_won` waiting for its stage."""
    await put_event(harness, "lead-profiles", good_fit(lead, at()))
    await put_event(harness, "page-visits", visit(lead, at(1)))
    await put_event(harness, "page-visits", visit(lead, at(2)))
    await put_event(harness, "sales-actions", action(lead, at(2, hours=1), "close_won"))
    state = LeadState.model_validate_json(harness.pipeline.tables.lead_states[lead.encode()])
    assert state.stage == "mql" and state.sla_clocks and state.parked
    assert harness.pipeline.tables.deadlines.get(lead.encode()) is not None


def changelog(harness: IngestHarness, table: str, key: bytes) -> list[bytes | None]:
    """The values sent to `table`'s changelog for `key`, in order (None: a tombstone)."""
    return [
        value
        for to, sent_key, value, _ in harness.producer.sent
        if to.endswith(f"-{table}-changelog") and sent_key == key
    ]


async def test_an_erasure_deletes_state_and_deadlines_and_tombstones_their_changelogs(
    harness: IngestHarness,
) -> None:
    await owed_and_parked(harness, "E1")
    sent_before = len(harness.producer.sent)
    outcome = await put_event_outcome(harness, erasure("E1", at(2, hours=2)))
    [erased] = harness.sent_to("lead-erased")
    assert set(erased) == {"event_id", "lead_id", "erased_at"} and erased["lead_id"] == "E1"
    assert [o.event_id for o in outcome.outputs] == [erased["event_id"]]
    tables = harness.pipeline.tables
    assert tables.lead_states.get(b"E1") is None and tables.deadlines.get(b"E1") is None
    assert changelog(harness, "lead-states", b"E1")[-1] is None
    assert changelog(harness, "sla-deadlines", b"E1")[-1] is None
    # The output first, then the tombstones: the order every batch is made durable in.
    sent = [to for to, _, _, _ in harness.producer.sent[sent_before:]]
    assert sent[0] == harness.pipeline.settings.topic("lead-erased")
    assert all(to.endswith("-changelog") for to in sent[1:]) and len(sent) == 3


async def test_an_erased_state_is_not_kept_decoded_in_memory(harness: IngestHarness) -> None:
    await owed_and_parked(harness, "E6")
    decoded = DecodedStates()
    pipeline = harness.pipeline
    batch = LeadBatch(
        pipeline.tables,
        pipeline.definition,
        PartitionClocks(0),
        prefix_length=len(pipeline.settings.topic_prefix),
        decoded=decoded,
    )
    batch.apply(harness.record("page-visits", b"E6", encode(visit("E6", at(3)))))
    assert len(decoded) == 1
    batch.apply(harness.record("lead-erasures", b"E6", encode(erasure("E6", at(3, hours=1)))))
    assert len(decoded) == 0


async def put_event_outcome(harness: IngestHarness, event: Any) -> Any:
    return await harness.put("lead-erasures", event.lead_id.encode(), encode(event))


async def test_after_an_erasure_nothing_is_owed_and_a_repeated_request_changes_nothing(
    harness: IngestHarness,
) -> None:
    await owed_and_parked(harness, "E2")
    await put_event_outcome(harness, erasure("E2", at(2, hours=2)))
    sent = len(harness.producer.sent)
    # A tick already on its way when the erasure was applied: no breach, no dead letter for
    # the parked action, and no empty lead written back.
    await harness.put("sla-ticks", b"E2", encode(ClockTicked(lead_id="E2", at=at(9))))
    await put_event_outcome(harness, erasure("E2", at(2, hours=3)))
    assert harness.producer.sent[sent:] == []
    assert harness.sent_to("sla-breaches") == [] and harness.sent_to("dead-letters") == []
    assert len(harness.sent_to("lead-erased")) == 1
    assert harness.pipeline.tables.lead_states.get(b"E2") is None


async def test_the_next_event_of_an_erased_lead_starts_an_empty_one(
    harness: IngestHarness,
) -> None:
    await owed_and_parked(harness, "E3")
    written = len(changelog(harness, "lead-states", b"E3"))
    records = [
        harness.record("lead-erasures", b"E3", encode(erasure("E3", at(2, hours=2)))),
        harness.record("page-visits", b"E3", encode(visit("E3", at(3)))),
    ]
    await harness.put_batch(records)  # one batch: the new lead's write replaces the old one
    [new] = changelog(harness, "lead-states", b"E3")[written:]
    assert new is not None and b"fit.test" not in new
    state = LeadState.model_validate_json(harness.pipeline.tables.lead_states[b"E3"])
    assert (state.stage, state.profile, state.parked, state.crossings) == ("visitor", {}, (), 0)
    assert harness.pipeline.tables.deadlines.get(b"E3") is None
    assert changelog(harness, "sla-deadlines", b"E3")[-1] is None


async def test_the_shadow_definitions_state_is_erased_too(shadow_harness: IngestHarness) -> None:
    await put_event(shadow_harness, "lead-profiles", good_fit("E4", at()))
    assert shadow_harness.pipeline.tables.shadow_states.get(b"E4") is not None
    await put_event_outcome(shadow_harness, erasure("E4", at(1)))
    assert shadow_harness.pipeline.tables.shadow_states.get(b"E4") is None
    assert changelog(shadow_harness, "shadow-states", b"E4")[-1] is None
    assert changelog(shadow_harness, "lead-states", b"E4")[-1] is None


@pytest.fixture
async def rocksdb_harness(tmp_path: Path) -> AsyncIterator[IngestHarness]:
    settings = Settings(topic_prefix="agent-test.", store="rocksdb://", data_dir=tmp_path)
    async for running in _harness(settings):
        yield running


async def test_a_tombstone_deletes_from_the_rocksdb_store(rocksdb_harness: IngestHarness) -> None:
    await owed_and_parked(rocksdb_harness, "E5")
    await put_event_outcome(rocksdb_harness, erasure("E5", at(2, hours=2)))
    tables = rocksdb_harness.pipeline.tables
    assert tables.lead_states.get(b"E5") is None and tables.deadlines.get(b"E5") is None
    assert b"E5" not in dict(tables.deadlines.items())
    assert changelog(rocksdb_harness, "lead-states", b"E5")[-1] is None
