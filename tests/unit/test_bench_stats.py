"""The benchmark's arithmetic: percentiles, latency summaries, rates, memory per lead."""

from __future__ import annotations

import math

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streamproc.bench.kafka_ops import CommitWait
from streamproc.bench.phases import throughput_figures
from streamproc.bench.profile import summarize
from streamproc.bench.stats import (
    by_second,
    bytes_per_lead,
    percentile,
    rate,
    share,
    steady_rate,
    summarize_latencies,
)
from streamproc.streaming.topics import partition_for


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),  # halfway between the two middle ranks
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # order does not matter
        (list(map(float, range(1, 101))), 99, 99.01),  # numpy.percentile's linear method
        (list(map(float, range(1, 101))), 50, 50.5),
    ],
)
def test_percentile_interpolates_between_closest_ranks(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_nan_and_out_of_range_is_an_error() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_latency_summary_is_in_milliseconds() -> None:
    summary = summarize_latencies([0.010, 0.020, 0.030, 1.000])
    assert summary.count == 4
    assert summary.p50_ms == pytest.approx(25.0)
    assert summary.max_ms == pytest.approx(1000.0)
    assert summary.mean_ms == pytest.approx(265.0)
    assert summary.p99_ms == pytest.approx(30 + 0.97 * 970)
    empty = summarize_latencies([])
    assert empty.count == 0 and math.isnan(empty.p99_ms) and math.isnan(empty.max_ms)


def test_rates_and_shares() -> None:
    assert rate(1000, 2.0) == 500.0
    assert rate(1000, 0.0) == 0.0
    assert share(20, 50) == 40.0
    assert share(1, 0) is None


def test_steady_rate_leaves_out_start_up_and_the_last_commit() -> None:
    timeline = [(0.0, 0), (5.0, 0), (6.0, 100), (8.0, 300), (10.0, 500), (20.0, 1000)]
    # 10% (100 done) is first reached at 6 s and 90% (900) at 20 s, with 1000 done by then
    assert steady_rate(timeline, 1000) == pytest.approx(900 / 14)
    assert steady_rate([(1.0, 50)], 1000) is None


def test_memory_per_lead_is_growth_over_leads_in_bytes() -> None:
    assert bytes_per_lead(100_000, 100_500, 1000) == 512.0
    with pytest.raises(ValueError, match="no leads"):
        bytes_per_lead(1, 2, 0)


def test_latency_by_second_buckets_by_send_time() -> None:
    samples = [(0.1, 0.010), (0.9, 0.030), (1.5, 0.200)]
    assert by_second(samples) == [[0, 2, 20.0, 30.0], [1, 1, 200.0, 200.0]]


@pytest.mark.parametrize("key", [b"lead-0000001", b"a", b"rec-0999999", "ü".encode()])
def test_partition_for_agrees_with_the_producers_default_partitioner(key: bytes) -> None:
    partitions = [0, 1, 2, 3]
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert partition_for(key, 4) == expected


def test_a_py_spy_profile_sums_own_and_inclusive_time_per_function_and_package() -> None:
    stacks = [
        "run (asyncio/base_events.py:600);agent (streamproc/streaming/app.py:10);"
        "decide (streamproc/domain/lead.py:170) 6",
        "run (asyncio/base_events.py:601);agent (streamproc/streaming/app.py:12);"
        "model_validate_json (pydantic/main.py:700) 3",
        "run (asyncio/base_events.py:601) 1",
        "not a stack line",
    ]
    profile = summarize(stacks)
    assert profile["samples"] == 10
    assert profile["own_percent"][0] == ["decide (streamproc/domain/lead.py)", 60.0]
    inclusive = dict(profile["inclusive_percent"])
    assert inclusive["run (asyncio/base_events.py)"] == 100.0  # two lines, one function
    assert inclusive["agent (streamproc/streaming/app.py)"] == 90.0
    assert dict(profile["own_percent_by_package"]) == {
        "streamproc.domain": 60.0,
        "pydantic": 30.0,
        "event loop": 10.0,
    }
    assert summarize([]) == {"samples": 0}


def test_the_rate_from_ready_counts_only_what_was_committed_after_the_first_look() -> None:
    """Of two workers started together, the first reads while the second is still starting:
    counting that backlog over the time after ready gave 39,591 events/s for two workers
    whose steady rate was 21,642."""
    wait = CommitWait(True, 14.0, 200_000, 200_000, [(4.0, 50_000), (14.0, 200_000)])
    figures = throughput_figures(wait, ready_s=2.3)
    assert figures["events_per_s"] == 15_000
    assert figures["committed_before_ready"] == 50_000
