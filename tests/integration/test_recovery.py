"""A worker killed with SIGKILL mid-history recovers its table from the changelog: the lead
crosses exactly once, with the same ids a clean run gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.definitions import load_definition
from streamproc.streaming.codec import encode
from tests.builders import at, good_fit, replay, visit
from tests.integration.conftest import start_worker, worker_settings
from tests.integration.kafka_io import OutputCollector, produce, wait_until_processed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
async def test_state_survives_a_hard_kill(kafka: str, tmp_path: Path, store: str) -> None:
    settings = worker_settings(kafka, tmp_path, "acme").model_copy(update={"store": store})
    lead = "lead-recovered"
    history = [good_fit(lead, at()), visit(lead, at(1)), visit(lead, at(2))]
    messages = [
        (topic, lead.encode(), encode(event))
        for topic, event in zip(
            ["lead-profiles", "page-visits", "page-visits"], history, strict=True
        )
    ]
    collector = OutputCollector(settings)
    await collector.start()
    worker = start_worker(settings, tmp_path / "worker-1.log")
    try:
        await produce(settings, messages[:2])
        await wait_until_processed(settings)
        worker.kill()
        if store == "memory://":
            # Nothing survives in memory: the new worker must rebuild from the changelog.
            assert not any((tmp_path / "worker").rglob("*.sst"))
        worker = start_worker(settings, tmp_path / "worker-2.log")
        await produce(settings, messages[2:])
        await collector.wait_for(lambda: len(collector.of(lead, "mql-crossed")) == 1)
        await wait_until_processed(settings)
    finally:
        worker.stop()
        await collector.stop()
    _, expected = replay(history, load_definition("acme"))
    topics = ("lead-stage-changes", "mql-crossed", "lead-routing")
    published = [event for topic in topics for event in collector.of(lead, topic)]
    assert sorted(event["event_id"] for event in published) == sorted(e.event_id for e in expected)
