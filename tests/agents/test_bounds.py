"""Inputs that used to stop the worker, or poison a lead, each on the ingest path: they go to
dead-letters, every record sent fits in a Kafka message, and every stored state reads back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from streamproc.domain.state import LeadState
from streamproc.streaming.codec import encode
from tests.agents.conftest import BROKER_MESSAGE_BYTES, IngestHarness
from tests.builders import at, good_fit, visit


def action_value(lead: str, name: str, event_id: str = "a1", **fields: Any) -> bytes:
    document = {
        "event_id": event_id,
        "lead_id": lead,
        "occurred_at": at(3).isoformat(),
        "action": name,
        "rep_id": "rep-1",
        **fields,
    }
    return orjson.dumps(document)


def deeply_qualified(lead: str, depth: int) -> bytes:
    """A `qualify` whose qualification nests `depth` levels (orjson writes 254 at most, and
    reads 1,024)."""
    value = action_value(lead, "qualify", qualification={"budget": "@"})
    return value.replace(b'"@"', b'{"budget":' * depth + b'"yes"' + b"}" * depth)


def stored_states(harness: IngestHarness) -> dict[bytes, LeadState]:
    """Every state in the lead table, read back as a restarted worker reads it."""
    table = harness.pipeline.tables.lead_states
    return {key: LeadState.model_validate_json(value) for key, value in table.items()}


@pytest.mark.parametrize("depth", [200, 300, 1000])
@pytest.mark.parametrize("stage", ["visitor", "mql"])
async def test_a_deeply_nested_qualification_is_a_dead_letter(
    harness: IngestHarness, depth: int, stage: str
) -> None:
    # Parked by a visitor (its state once failed to save, or saved and failed to read back);
    # checked by an MQL's stage table (`str(value)` once raised RecursionError).
    lead = f"Q-{stage}-{depth}"
    if stage == "mql":
        await harness.put("lead-profiles", lead.encode(), encode(good_fit(lead, at())))
        await harness.put("page-visits", lead.encode(), encode(visit(lead, at(1))))
        await harness.put("page-visits", lead.encode(), encode(visit(lead, at(2))))
    dead_before = len(harness.sent_to("dead-letters"))
    value = deeply_qualified(lead, depth)
    outcome = await harness.put("sales-actions", lead.encode(), value)
    assert outcome.error is not None
    assert "qualification: value error, must be a flat map" in outcome.error
    assert "budget holds a map" in outcome.error
    await harness.put("page-visits", lead.encode(), encode(visit(lead, at(4))))
    assert len(harness.sent_to("dead-letters")) == dead_before + 1
    assert stored_states(harness)[lead.encode()].stage == stage


@pytest.mark.parametrize(
    "value",
    [b"\x01" * 200_000, b"\xff" * 900_000, b'{"url": "' + b"\\u0001" * 170_000 + b'"}'],
    ids=["control bytes", "not UTF-8", "escaped control characters"],
)
async def test_a_dead_letter_fits_in_a_kafka_message(harness: IngestHarness, value: bytes) -> None:
    outcome = await harness.put("page-visits", b"L1", value)
    assert outcome.error is not None
    [letter] = harness.sent_to("dead-letters")
    assert len(orjson.dumps(letter)) < BROKER_MESSAGE_BYTES // 8
    assert letter["value_size"] == len(value)
    assert len(letter["value_sha256"]) == 64


async def test_huge_ids_and_titles_are_dead_letters(harness: IngestHarness) -> None:
    # Each once made a state past the broker's 1 MB: MESSAGE_SIZE_TOO_LARGE stopped the worker.
    huge = "x" * 300_000
    profile = good_fit("H1", at()).model_dump(mode="json")
    profile["person"]["title"] = huge
    view = visit("H1", at(1)).model_dump(mode="json")
    values = [
        ("lead-profiles", b"H1", orjson.dumps(profile)),
        ("page-visits", b"H1", orjson.dumps({**view, "event_id": "x" * 1000})),
        ("page-visits", huge.encode(), orjson.dumps({**view, "lead_id": huge})),
    ]
    for topic, key, value in values:
        await harness.put(topic, key, value)
    errors = [letter["error"] for letter in harness.sent_to("dead-letters")]
    assert len(errors) == 3
    assert "bytes, over the 65,536 bytes an input record may have" in errors[0]
    assert "event_id: string should have at most 256 characters" in errors[1]
    assert "the message key on page-visits is 300,000 bytes" in errors[2]
    small = {**profile, "person": {"title": "t" * 257}}
    outcome = await harness.put("lead-profiles", b"H1", orjson.dumps(small))
    assert outcome.error is not None and "person.title: string should have at most" in outcome.error


async def test_an_event_from_the_far_future_is_refused_and_real_ones_still_count(
    harness: IngestHarness,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await harness.put("lead-profiles", b"F1", encode(good_fit("F1", now)))
    future = datetime(2899, 1, 1, tzinfo=UTC)
    outcome = await harness.put("page-visits", b"F1", encode(visit("F1", future)))
    assert outcome.error is not None and "ahead" in outcome.error
    await harness.put("page-visits", b"F1", encode(visit("F1", now)))
    await harness.put("page-visits", b"F1", encode(visit("F1", now)))
    assert [c["to_stage"] for c in harness.sent_to("lead-stage-changes")] == ["lead", "mql"]
    assert stored_states(harness)[b"F1"].clock_ms == round(now.timestamp() * 1000)


@pytest.mark.parametrize("email", ["", "  ", "not-an-email", "a@", "@b.test", "a b@c.test"])
async def test_an_empty_or_invalid_email_does_not_make_a_lead(
    harness: IngestHarness, email: str
) -> None:
    value = orjson.dumps(
        {"event_id": "p1", "lead_id": "E1", "occurred_at": at().isoformat(), "email": email}
    )
    outcome = await harness.put("lead-profiles", b"E1", value)
    assert outcome.error is not None and "email" in outcome.error
    assert harness.sent_to("lead-stage-changes") == []


async def test_a_state_stays_under_its_limit_and_says_what_it_let_go(
    harness: IngestHarness,
) -> None:
    # Valid input only: waiting actions, each with 32 answers of 256 characters whose JSON
    # is six bytes each, pass the 64 KB a lead's state may have.
    answers = {f"question-{n}": "\x01" * 256 for n in range(32)}
    for number in range(3):
        value = action_value("S1", "accept", f"a{number}", qualification=answers)
        assert len(value) < 65_536
        outcome = await harness.put("sales-actions", b"S1", value)
        assert outcome.error is None  # it waits for an MQL
    stored = harness.pipeline.tables.lead_states[b"S1"]
    assert len(stored) <= 65_536
    letters = harness.sent_to("dead-letters")
    assert letters and all("STREAMPROC_MAX_STATE_BYTES" in letter["error"] for letter in letters)
    assert all(letter["value_sha256"] for letter in letters)
    let_go = {letter["offset"] for letter in letters}
    kept = {p.action.event_id for p in LeadState.model_validate_json(stored).parked}
    assert len(let_go) + len(kept) == 3
    metrics = harness.pipeline.metrics
    assert metrics is not None
    shed = metrics.registry.get_sample_value("streamproc_state_shed_total", {"part": "parked"})
    assert shed == len(let_go)
