"""A backtest report: every figure of one replay (`summarize`), and two side by side
(`compare`).

Pure functions of a `ReplayResult`. Rates keep numerator and denominator and give `percent`
(None over nothing); durations are in hours; weeks are ISO weeks in UTC (`2026-W03`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from streamproc.backtest.figures import (
    Bands,
    Count,
    Rate,
    in_order,
    ranked,
    rate,
    source_of,
    week_of,
    weeks_between,
)
from streamproc.backtest.result import Crossing, DivergentLead, ReplayResult
from streamproc.backtest.sales import Sales, sales_figures
from streamproc.domain.events import Contribution, MqlCrossed, Score
from streamproc.domain.scoring import Evaluation

LOOSE_PERCENT = 20
LOOSE_WARNING = (
    f"more than {LOOSE_PERCENT}% of identified leads become MQL: "
    "the definition is probably too loose"
)
Unit = Literal["count", "percent", "hours"]


@dataclass(frozen=True)
class Report:
    """Every figure of one definition's replay of one history.

    `mql_leads` are distinct leads with a crossing; `crossings`, and the counts per ISO week,
    per source and per score band of the crossing's total, include second crossings (after a
    recycle). Every week of the history and every band is listed, 0 included; sources are
    ranked. `mql_rate` is MQL leads over identified leads; above LOOSE_PERCENT it sets
    `too_loose` and `warning`. `sales` is None when the history has no sales actions.
    """

    definition: str
    threshold: float
    events: int
    invalid: int
    duplicates: int
    refused: int
    first_event_at: datetime | None
    last_event_at: datetime | None
    leads_seen: int
    leads_identified: int
    leads_erased: int
    """Erased on request: left out of every figure (`Replay`)."""
    leads_expired: int
    """Expired by the definition's `retention`: still in the figures (`Replay`)."""
    mql_leads: int
    crossings: int
    mql_rate: Rate
    too_loose: bool
    warning: str | None
    mqls_per_week: tuple[Count, ...]
    mqls_per_source: tuple[Count, ...]
    mqls_per_band: tuple[Count, ...]
    sales: Sales | None


def summarize(result: ReplayResult) -> Report:
    """Every figure of `result` (see `Report`)."""
    crossings = sorted(result.crossings, key=lambda crossing: crossing.event.occurred_at)
    first: dict[str, Crossing] = {}
    for crossing in crossings:
        first.setdefault(crossing.event.lead_id, crossing)
    identified = sum(lead.identified for lead in result.leads.values())
    # In integers: 2 of 10 is exactly 20%, not above it.
    too_loose = 100 * len(first) > LOOSE_PERCENT * identified
    bands = Bands(result.definition)
    weeks = Counter(week_of(crossing.event.occurred_at) for crossing in crossings)
    all_weeks = sorted(weeks_between(result.first_event_at, result.last_event_at) | set(weeks))
    return Report(
        definition=result.definition.label,
        threshold=result.definition.threshold,
        events=result.events,
        invalid=result.invalid,
        duplicates=result.duplicates,
        refused=result.refused,
        first_event_at=result.first_event_at,
        last_event_at=result.last_event_at,
        leads_seen=len(result.leads),
        leads_identified=identified,
        leads_erased=result.erased,
        leads_expired=result.expired,
        mql_leads=len(first),
        crossings=len(crossings),
        mql_rate=rate(len(first), identified),
        too_loose=too_loose,
        warning=LOOSE_WARNING if too_loose else None,
        mqls_per_week=in_order(all_weeks, weeks),
        mqls_per_source=ranked(Counter(source_of(crossing) for crossing in crossings)),
        mqls_per_band=in_order(bands.labels, Counter(bands.of(crossing) for crossing in crossings)),
        sales=sales_figures(result, first, bands),
    )


@dataclass(frozen=True)
class Change:
    """One figure under A and B and `change` = B - A: percentage points for a percent, hours
    for hours. A count missing from one report is 0 there; a missing percent or median is
    None, and so is the change."""

    section: str
    figure: str
    unit: Unit
    a: float | None
    b: float | None
    change: float | None


@dataclass(frozen=True)
class Breakdown:
    """A lead's score under one definition, with why: the crossing it published under this
    definition (`crossed`, and so `qualifies`), or else this definition's evaluation of the
    lead at the moment it crossed under the other one."""

    score: Score
    contributions: tuple[Contribution, ...]
    gates_met: tuple[str, ...]
    qualifies: bool
    crossed: bool


@dataclass(frozen=True)
class Divergence:
    """A lead that is an MQL under one definition only, `mql_under` A or B, first crossing
    `at`; a breakdown is None when that definition had not seen the lead then."""

    lead_id: str
    mql_under: Literal["A", "B"]
    at: datetime
    a: Breakdown | None
    b: Breakdown | None


@dataclass(frozen=True)
class Comparison:
    """Two reports of one history, every figure's change (A's figures first, in report
    order, then B's own), and the leads they disagree on, by crossing time."""

    a: Report
    b: Report
    changes: tuple[Change, ...]
    divergent: tuple[Divergence, ...]


def compare(a: Report, b: Report, divergent: Sequence[DivergentLead]) -> Comparison:
    """A and B side by side (see `Comparison`)."""
    figures_a, figures_b = _figures(a), _figures(b)
    changes = []
    for key in figures_a | figures_b:
        unit = (figures_a.get(key) or figures_b[key])[0]
        missing = 0 if unit == "count" else None
        value_a = figures_a[key][1] if key in figures_a else missing
        value_b = figures_b[key][1] if key in figures_b else missing
        delta = None if value_a is None or value_b is None else value_b - value_a
        changes.append(Change(*key, unit, value_a, value_b, delta))
    views = sorted((_divergence(lead) for lead in divergent), key=lambda v: (v.at, v.lead_id))
    return Comparison(a, b, tuple(changes), tuple(views))


Figures = dict[tuple[str, str], tuple[Unit, float | None]]


def _figures(report: Report) -> Figures:
    """Every figure of a report by (section, figure), in report order."""
    figures: Figures = {
        ("leads", "seen"): ("count", report.leads_seen),
        ("leads", "identified"): ("count", report.leads_identified),
        ("leads", "MQL leads"): ("count", report.mql_leads),
        ("leads", "crossings"): ("count", report.crossings),
        ("leads", "MQL rate"): ("percent", report.mql_rate.percent),
    }
    for section, counts in (
        ("MQLs per week", report.mqls_per_week),
        ("MQLs per source", report.mqls_per_source),
        ("MQLs per score band", report.mqls_per_band),
    ):
        figures.update({(section, count.label): ("count", count.count) for count in counts})
    sales = report.sales
    if sales is None:
        return figures
    for section, funnels in (
        ("funnel", (sales.funnel,)),
        ("funnel per band", sales.funnel_per_band),
        ("funnel per source", sales.funnel_per_source),
    ):
        for funnel in funnels:
            for step, step_rate in (
                ("MQL->SAL", funnel.mql_to_sal),
                ("MQL->SQL", funnel.mql_to_sql),
                ("SQL->opportunity", funnel.sql_to_opportunity),
            ):
                figures[section, f"{funnel.group} {step}"] = ("percent", step_rate.percent)
    for rejections in sales.rejections:
        figures["rejection reasons", rejections.action] = ("count", rejections.total)
        for reason in rejections.reasons:
            figures["rejection reasons", f"{rejections.action} {reason.label}"] = (
                "count",
                reason.count,
            )
    for sla in sales.sla:
        name = f"{sla.sla} {sla.lane}"
        for part in ("started", "met", "breached", "pending"):
            figures["SLA compliance", f"{name} {part}"] = ("count", getattr(sla, part))
        figures["SLA compliance", f"{name} compliance"] = ("percent", sla.compliance.percent)
    for stay in sales.time_in_stage:
        figures["median hours in stage", stay.stage.value] = ("hours", stay.median_hours)
    return figures


def _divergence(lead: DivergentLead) -> Divergence:
    crossed = lead.crossed_a or lead.crossed_b
    if crossed is None:
        raise ValueError(f"lead {lead.lead_id} is divergent but crossed under neither definition")
    return Divergence(
        lead_id=lead.lead_id,
        mql_under="A" if lead.crossed_a else "B",
        at=crossed.occurred_at,
        a=_breakdown(lead.crossed_a, lead.a_at_crossing),
        b=_breakdown(lead.crossed_b, lead.b_at_crossing),
    )


def _breakdown(crossed: MqlCrossed | None, evaluation: Evaluation | None) -> Breakdown | None:
    if crossed is not None:
        return Breakdown(crossed.score, crossed.contributions, crossed.gates_met, True, True)
    if evaluation is not None:
        return Breakdown(
            evaluation.score,
            evaluation.contributions,
            evaluation.gates_met,
            evaluation.qualifies,
            False,
        )
    return None
