"""The worker's Prometheus metrics: their contract names, and the counting, once per batch.

Every name in METRIC_NAMES is a contract (DESIGN.md, "Operating it"): dashboards, alerts and
deploy/ read them. Each app has a registry of its own (never prometheus-client's global one),
served at `GET /metrics` by `streamproc.web.metrics`.

Counting costs the ingest loop nothing per event: a batch adds its counts once per topic
(label children resolved once and kept), and what is cheap to read when asked (consumer lag,
leads held, readiness) is read at scrape time by a collector, not kept up to date.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as CounterMetric
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from streamproc.domain.definition import SlaDurations
from streamproc.streaming.state_bound import PARTS
from streamproc.streaming.topics import INPUT_TOPICS, OUTPUT_TOPICS

EVENTS_IN = "streamproc_events_in_total"
EVENTS_OUT = "streamproc_events_out_total"
DEAD_LETTERS = "streamproc_dead_letters_total"
MQL_CROSSINGS = "streamproc_mql_crossings_total"
SLA_BREACHES = "streamproc_sla_breaches_total"
CONSUMER_LAG = "streamproc_consumer_lag_records"
EVENT_LATENCY = "streamproc_event_latency_seconds"
BATCH_SECONDS = "streamproc_batch_seconds"
LEADS = "streamproc_leads"
READY = "streamproc_ready"
MISROUTED_EVENTS = "streamproc_misrouted_events_total"
SPLIT_LEAD_EVENTS = "streamproc_split_lead_events_total"
STATE_SHED = "streamproc_state_shed_total"
LEADS_EXPIRED = "streamproc_leads_expired_total"
METRIC_NAMES = (
    EVENTS_IN,
    EVENTS_OUT,
    DEAD_LETTERS,
    MQL_CROSSINGS,
    SLA_BREACHES,
    CONSUMER_LAG,
    EVENT_LATENCY,
    BATCH_SECONDS,
    LEADS,
    READY,
    MISROUTED_EVENTS,
    SPLIT_LEAD_EVENTS,
    STATE_SHED,
    LEADS_EXPIRED,
)
"""The contract's metric names, as they appear in the exposition (counters with `_total`)."""

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds; above 60 s an event waited in a backlog."""
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class BatchedHistogram:
    """A histogram that takes a batch's observations in one call: a bisect and a list
    increment each, no lock (the event loop's thread is its only writer and reader)."""

    name: str
    documentation: str
    buckets: tuple[float, ...]
    counts: list[int] = field(init=False)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def observe_many(self, values: Iterable[float]) -> None:
        counts, buckets, total = self.counts, self.buckets, 0.0
        for value in values:
            counts[bisect.bisect_left(buckets, value)] += 1
            total += value
        self.total += total

    def family(self) -> HistogramMetricFamily:
        cumulative, seen = [], 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            seen += count
            cumulative.append((_bound(bound), seen))
        return HistogramMetricFamily(
            self.name, self.documentation, buckets=cumulative, sum_value=self.total
        )


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


LagRow = tuple[str, int, int]
"""(topic without prefix, partition, records between the position and the log's end)."""


@dataclass
class Sources:
    """Where the scrape-time figures come from (the worker's parts; tests give their own)."""

    lag: Callable[[], Iterable[LagRow]] = list
    leads: Callable[[], int | None] = lambda: None
    ready: Callable[[], bool] = lambda: False


class _Sampled(Collector):
    """The gauges read when Prometheus asks, and the batched histograms."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        sources = self._metrics.sources
        lag = GaugeMetricFamily(
            CONSUMER_LAG,
            "Records between the ingest loop's position and the end of each partition it reads",
            labels=["topic", "partition"],
        )
        for topic, partition, records in sources.lag():
            lag.add_metric([topic, str(partition)], records)
        yield lag
        leads = GaugeMetricFamily(LEADS, "Leads held in this worker's lead table")
        count = sources.leads()
        if count is not None:
            leads.add_metric([], count)
        yield leads
        yield GaugeMetricFamily(
            READY,
            "1 when the worker is ready (GET /readyz answers 200)",
            value=int(sources.ready()),
        )
        yield self._metrics.latency.family()
        yield self._metrics.batch_seconds.family()


class Metrics:
    """The worker's metrics in a registry of their own; `batch_done` counts a batch."""

    def __init__(self, definition_label: str, sources: Sources | None = None) -> None:
        """Every topic and SLA of the contract starts at 0, so that a rate is defined from
        the first scrape and each name is served before anything happened."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.sources = sources or Sources()
        self.latency = BatchedHistogram(
            EVENT_LATENCY,
            "Seconds from an input record's Kafka timestamp to the acknowledgement of the "
            "outputs it caused",
            LATENCY_BUCKETS,
        )
        self.batch_seconds = BatchedHistogram(
            BATCH_SECONDS, "Seconds to apply a batch and make it durable", BATCH_BUCKETS
        )

        def counter(name: str, documentation: str, label: str) -> Callable[[str], Any]:
            metric = CounterMetric(
                name.removesuffix("_total"), documentation, [label], registry=self.registry
            )
            children: dict[str, Any] = {}

            def child(value: str) -> Any:
                found = children.get(value)
                if found is None:
                    found = children[value] = metric.labels(value)
                return found

            return child

        self._events_in = counter(
            EVENTS_IN, "Input records applied (duplicates and dead letters included)", "topic"
        )
        self._events_out = counter(
            EVENTS_OUT, "Output records acknowledged by the brokers", "topic"
        )
        self._dead_letters = counter(
            DEAD_LETTERS, "Dead letters published, by the input topic they came from", "topic"
        )
        crossings = counter(MQL_CROSSINGS, "MQL crossings published", "definition")
        self._crossings = crossings(definition_label)
        self._sla_breaches = counter(SLA_BREACHES, "SLA breaches published", "sla")
        self._misrouted = counter(
            MISROUTED_EVENTS,
            "Input records that came in a partition other than murmur2 of their key",
            "topic",
        )
        self._split = counter(
            SPLIT_LEAD_EVENTS,
            "Input records of a lead seen in two partitions (in one batch, or held in "
            "another partition of this worker)",
            "topic",
        )
        for topic in INPUT_TOPICS:
            self._events_in(topic)
            self._dead_letters(topic)
            self._misrouted(topic)
            self._split(topic)
        for topic in OUTPUT_TOPICS:
            self._events_out(topic)
        for sla in SlaDurations.model_fields:
            self._sla_breaches(sla)
        self._shed = counter(
            STATE_SHED,
            "Items lead states shed to stay under STREAMPROC_MAX_STATE_BYTES, by part",
            "part",
        )
        for part in PARTS:
            self._shed(part)
        expired = counter(
            LEADS_EXPIRED,
            "Leads deleted for lack of activity (the definition's retention)",
            "definition",
        )
        self._expired = expired(definition_label)
        self.registry.register(_Sampled(self))

    def batch_done(
        self,
        in_topics: Counter[str],
        out_topics: Counter[str],
        dead_letters: dict[str, int],
        sla_breaches: dict[str, int],
        seconds: float,
    ) -> None:
        """Count one durable batch: records in and out per topic (without the prefix), dead
        letters per input topic, breaches per SLA, and how long the batch took."""
        for topic, count in in_topics.items():
            self._events_in(topic).inc(count)
        for topic, count in out_topics.items():
            self._events_out(topic).inc(count)
        crossed = out_topics.get("mql-crossed")
        if crossed:
            self._crossings.inc(crossed)
        for topic, count in dead_letters.items():
            self._dead_letters(topic).inc(count)
        for sla, count in sla_breaches.items():
            self._sla_breaches(sla).inc(count)
        self.batch_seconds.observe(seconds)

    def partitions_checked(self, misrouted: Counter[str], split: Counter[str]) -> None:
        """Count a batch's misrouted records and records of split leads, per input topic
        (`partitioning.PartitionCheck`)."""
        for topic, count in misrouted.items():
            self._misrouted(topic).inc(count)
        for topic, count in split.items():
            self._split(topic).inc(count)

    def states_shed(self, shed: Mapping[str, int]) -> None:
        """Count the items lead states shed to fit their limit, by part (`state_bound`)."""
        for part, count in shed.items():
            self._shed(part).inc(count)

    def leads_expired(self, count: int) -> None:
        """Count the leads a batch deleted because they expired."""
        self._expired.inc(count)

    def outputs_acknowledged(self, timestamps_ms: Sequence[int], acked_at: float) -> None:
        """The latency of records (by their Kafka timestamps) whose outputs were acknowledged
        at `acked_at` (seconds since the epoch)."""
        acked_ms = acked_at * 1000
        # A producer's clock ahead of ours is no negative latency: it would lower the sum.
        self.latency.observe_many(max(0.0, (acked_ms - ms) / 1000) for ms in timestamps_ms)
