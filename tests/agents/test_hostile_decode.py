"""Hostile records on the ingest path, generated: none stops it, each is applied or goes to
dead-letters, everything sent fits in a Kafka message, and every stored state reads back."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc.domain.events import DeadLettered
from streamproc.domain.state import LeadState
from streamproc.streaming.state_bound import MAX_STATE_BYTES
from tests.agents.conftest import IngestHarness
from tests.hostile import HostileRecord, hostile_records


@settings(
    max_examples=200,
    deadline=None,
    # One worker for every example, on purpose: the lead's state grows from example to example.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=st.lists(hostile_records("H1"), min_size=1, max_size=6))
async def test_hostile_records_never_stop_the_ingest_path(
    harness: IngestHarness, batch: list[HostileRecord]
) -> None:
    records = [harness.record(topic, key, value) for topic, key, value in batch]
    sent_before = len(harness.producer.sent)
    outcomes = await harness.put_batch(records)  # the producer refuses what is over 1 MB
    assert len(outcomes) == len(records)
    letters_topic = harness.pipeline.settings.topic("dead-letters")
    letters = [
        DeadLettered.model_validate_json(value)
        for topic, _, value, _ in harness.producer.sent[sent_before:]
        if topic == letters_topic and value
    ]
    lettered = {(letter.topic, letter.offset) for letter in letters}
    for record, outcome in zip(records, outcomes, strict=True):
        if outcome.error is not None:
            assert (record.topic, record.offset) in lettered, outcome.error
            assert len(outcome.error) <= 2_010
    for value in harness.pipeline.tables.lead_states.values():
        assert len(value) <= MAX_STATE_BYTES
        LeadState.model_validate_json(value)  # as a restarted worker reads it
    for letter in letters:
        assert len(orjson.dumps(letter.model_dump(mode="json"))) < 40_000
