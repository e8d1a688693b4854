"""The metric contract: every name is served, histograms bucket as Prometheus means them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rocksdict import Rdict

from streamproc.streaming.metrics import METRIC_NAMES, BatchedHistogram, Metrics, Sources
from streamproc.worker import lead_count


def exposed_names(metrics: Metrics) -> set[str]:
    text = generate_latest(metrics.registry).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_contract_name_is_served_from_the_apps_own_registry() -> None:
    metrics = Metrics("acme@1", Sources(lambda: [("page-visits", 0, 7)], lambda: 3, lambda: True))
    metrics.batch_done(
        Counter({"page-visits": 2}), Counter({"sla-breaches": 1}), {}, {"mql_review": 1}, 0.1
    )
    metrics.outputs_acknowledged([1_000], 1.5)
    names = exposed_names(metrics)
    for name in METRIC_NAMES:
        assert name in names or f"{name}_count" in names, name
    registry = metrics.registry
    assert registry.get_sample_value("streamproc_ready") == 1
    assert registry.get_sample_value("streamproc_leads") == 3
    lag = registry.get_sample_value(
        "streamproc_consumer_lag_records", {"topic": "page-visits", "partition": "0"}
    )
    assert lag == 7
    assert registry.get_sample_value("streamproc_sla_breaches_total", {"sla": "mql_review"}) == 1


def test_a_second_app_counts_apart() -> None:
    first, second = Metrics("acme@1"), Metrics("acme@1")
    first.batch_done(Counter({"downloads": 5}), Counter(), {}, {}, 0.01)
    in_downloads = {"topic": "downloads"}
    assert first.registry.get_sample_value("streamproc_events_in_total", in_downloads) == 5
    assert second.registry.get_sample_value("streamproc_events_in_total", in_downloads) == 0


def test_a_batched_histogram_counts_each_value_in_the_first_bucket_that_holds_it() -> None:
    histogram = BatchedHistogram("h", "a histogram", (0.1, 1.0))
    histogram.observe_many([0.1, 0.5, 1.0, 3.0])
    histogram.observe(0.05)
    [*buckets, count, total] = histogram.family().samples
    assert [(b.labels["le"], b.value) for b in buckets] == [("0.1", 2), ("1.0", 4), ("+Inf", 5)]
    assert (count.value, round(total.value, 2)) == (5, 4.65)


def test_leads_on_rocksdb_are_counted_from_rocksdbs_estimate_per_active_partition(
    tmp_path: Path,
) -> None:
    databases = {partition: Rdict(str(tmp_path / str(partition))) for partition in (0, 3)}
    for partition, keys in ((0, 3), (3, 2)):
        for key in range(keys):
            databases[partition][f"lead-{key}".encode()] = b"{}"
    standby = Rdict(str(tmp_path / "standby"))
    standby[b"lead-of-another-worker"] = b"{}"
    actives = list(databases.values())
    table = SimpleNamespace(data=SimpleNamespace(_dbs_for_actives=lambda: iter(actives)))
    pipeline = SimpleNamespace(
        settings=SimpleNamespace(store="rocksdb://"),
        tables=SimpleNamespace(lead_states=table),
    )
    try:
        assert lead_count(pipeline) == 5  # type: ignore[arg-type]
    finally:
        for database in [*databases.values(), standby]:
            database.close()


def test_a_record_stamped_after_its_acknowledgement_adds_no_negative_latency() -> None:
    metrics = Metrics("acme@1")
    metrics.outputs_acknowledged([10_000, 12_000], acked_at=11.0)  # the second is 1 s ahead
    registry = metrics.registry
    assert registry.get_sample_value("streamproc_event_latency_seconds_sum") == 1.0
    assert registry.get_sample_value("streamproc_event_latency_seconds_count") == 2
