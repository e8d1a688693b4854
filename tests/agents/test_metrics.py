"""The ingest path counts what it applied and published, once per batch, in the app's own
Prometheus registry."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry

from streamproc.streaming.codec import encode
from tests.agents.conftest import IngestHarness
from tests.builders import at, good_fit, visit


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_batch_is_counted_by_topic_definition_and_origin(harness: IngestHarness) -> None:
    metrics = harness.pipeline.metrics
    assert metrics is not None and metrics.registry is not REGISTRY
    lead = b"M1"
    records = [
        harness.record("lead-profiles", lead, encode(good_fit("M1", at()))),
        harness.record("page-visits", lead, encode(visit("M1", at(1)))),
        harness.record("page-visits", lead, encode(visit("M1", at(2)))),
        harness.record("page-visits", lead, b"{not json"),
    ]
    await harness.put_batch(records)
    registry = metrics.registry
    assert sample(registry, "streamproc_events_in_total", topic="page-visits") == 3
    assert sample(registry, "streamproc_events_in_total", topic="lead-profiles") == 1
    assert sample(registry, "streamproc_events_out_total", topic="mql-crossed") == 1
    assert sample(registry, "streamproc_events_out_total", topic="lead-stage-changes") == 2
    assert sample(registry, "streamproc_events_out_total", topic="dead-letters") == 1
    assert sample(registry, "streamproc_dead_letters_total", topic="page-visits") == 1
    assert sample(registry, "streamproc_mql_crossings_total", definition="acme@1") == 1
    assert sample(registry, "streamproc_batch_seconds_count") == 1
    assert sample(registry, "streamproc_leads") == 1


async def test_no_metrics_when_they_are_off() -> None:
    from streamproc.definitions import load_definition
    from streamproc.settings import Settings
    from streamproc.streaming.app import create_app

    pipeline = create_app(Settings(metrics=False), load_definition("acme"))
    assert pipeline.metrics is None
