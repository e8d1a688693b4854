"""The building blocks of backtest figures: rates, labelled counts, score bands, ISO weeks."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streamproc.backtest.result import Crossing
from streamproc.domain.definition import Definition

NO_SOURCE = "(none)"
"""The label of leads whose profile never gave a `source` (and of a missing reason code)."""
BAND_WIDTH = 10
"""Points per score band."""


@dataclass(frozen=True)
class Rate:
    """numerator / denominator, and as a percentage (None when the denominator is 0)."""

    numerator: int
    denominator: int
    percent: float | None


def rate(numerator: int, denominator: int) -> Rate:
    return Rate(numerator, denominator, 100 * numerator / denominator if denominator else None)


@dataclass(frozen=True)
class Count:
    label: str
    count: int


def ranked(counts: Counter[str]) -> tuple[Count, ...]:
    """Most frequent first, then by label."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Count(label, count) for label, count in ordered)


def in_order(labels: Iterable[str], counts: Counter[str]) -> tuple[Count, ...]:
    """A count for every label, 0 included, in the order given."""
    return tuple(Count(label, counts[label]) for label in labels)


def source_of(crossing: Crossing) -> str:
    return NO_SOURCE if crossing.source is None else crossing.source


class Bands:
    """Score bands of BAND_WIDTH points from the threshold rounded down to BAND_WIDTH; the
    last band runs to the definition's maximum score (fit + intent maximum), so a total of
    100 falls in `90-100`. Labels are `60-69`, `70-79`, ..., `90-100`."""

    def __init__(self, definition: Definition) -> None:
        self.top = definition.fit.max_points + definition.intent.max_points
        self.first = int(definition.threshold // BAND_WIDTH * BAND_WIDTH)
        self.last = max(self.first, math.ceil(self.top / BAND_WIDTH) * BAND_WIDTH - BAND_WIDTH)
        starts = range(self.first, self.last + 1, BAND_WIDTH)
        self.labels = tuple(self._label(start) for start in starts)

    def of(self, crossing: Crossing) -> str:
        """The band of the crossing's total score."""
        start = int(crossing.event.score.total // BAND_WIDTH * BAND_WIDTH)
        # A crossing scores at least the threshold; clamping keeps any total in a listed band.
        return self._label(min(self.last, max(self.first, start)))

    def _label(self, start: int) -> str:
        end = f"{self.top:g}" if start == self.last else str(start + BAND_WIDTH - 1)
        return f"{start}-{end}"


def week_of(moment: datetime) -> str:
    """The ISO week of an instant in UTC: `2026-W03`."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(first: datetime | None, last: datetime | None) -> set[str]:
    """Every ISO week from `first` to `last` (none when either is unknown)."""
    if first is None or last is None:
        return set()
    # Samples 7 days apart hit every week in between; the last week is added explicitly.
    samples = range(0, (last - first) // timedelta(days=1) + 1, 7)
    return {week_of(first + timedelta(days=days)) for days in samples} | {week_of(last)}
