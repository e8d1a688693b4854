"""The arithmetic of the figures: rates, percentiles, latency summaries, memory per lead."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 when no time passed."""
    return count / seconds if seconds > 0 else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks, like
    numpy's default; NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class LatencySummary:
    """Latencies in milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_latencies(seconds: Sequence[float]) -> LatencySummary:
    """p50, p99, max and mean in ms of latencies given in seconds."""
    ms = [value * 1000 for value in seconds]
    return LatencySummary(
        count=len(ms),
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms, default=math.nan),
        mean_ms=sum(ms) / len(ms) if ms else math.nan,
    )


def steady_rate(
    timeline: Sequence[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9
) -> float | None:
    """Events/s between the first samples at `low` and at `high` of `total` done.

    `timeline` is (seconds, events done) samples in time order, e.g. committed offsets; this
    leaves out the start-up and the last commit interval. None when the samples do not span
    the range.
    """
    start = next((s for s in timeline if s[1] >= low * total), None)
    end = next((s for s in timeline if s[1] >= high * total), None)
    if start is None or end is None or end[0] <= start[0]:
        return None
    return (end[1] - start[1]) / (end[0] - start[0])


def bytes_per_lead(rss_before_kb: int, rss_after_kb: int, leads: int) -> float:
    """Resident memory growth per lead, in bytes, from /proc's kB figures."""
    if leads <= 0:
        raise ValueError("no leads to divide by")
    return (rss_after_kb - rss_before_kb) * 1024 / leads


def share(part: float, whole: float) -> float | None:
    """part as a percentage of whole; None when whole is not positive."""
    return 100 * part / whole if whole > 0 else None


def by_second(samples: Sequence[tuple[float, float]]) -> list[list[float]]:
    """[second, count, p50 ms, max ms] per second of send time, from (sent s, latency s)."""
    buckets: dict[int, list[float]] = {}
    for sent, latency in samples:
        buckets.setdefault(int(sent), []).append(latency * 1000)
    return [
        [second, len(ms), round(percentile(ms, 50), 1), round(max(ms), 1)]
        for second, ms in sorted(buckets.items())
    ]
