"""A backtest report as terminal text and as JSON.

The text is plain (no colour codes, so it reads the same in a terminal, a CI log or a pull
request), in sections with a short heading and aligned columns, within 100 columns. The JSON
holds every figure under the field names of the dataclasses in `report`, `figures` and
`sales`; instants are ISO 8601 strings, rates `{numerator, denominator, percent}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from streamproc.backtest.figures import Count, Rate
from streamproc.backtest.report import Breakdown, Change, Comparison, Report, Unit
from streamproc.backtest.sales import NO_SALES, Sales

WIDTH = 100


def to_json(report: Report) -> dict[str, Any]:
    """Every figure of `report`, JSON-serialisable (orjson or the standard library)."""
    return _fields(report)


def comparison_to_json(comparison: Comparison) -> dict[str, Any]:
    """Both reports, every change and the divergent leads, JSON-serialisable."""
    return _fields(comparison)


def _fields(value: Any) -> dict[str, Any]:
    return {field.name: _plain(getattr(value, field.name)) for field in fields(value)}


def _plain(value: object) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def render_text(report: Report) -> str:
    """The report of one definition, headline first."""
    lines = [f"Backtest of {report.definition} (MQL at {report.threshold:g} points or more)"]
    lines += _history(report)
    lines += [
        f"  MQLs       {report.mql_leads} leads, {report.crossings} crossings",
        f"  MQL rate   {_rate(report.mql_rate)} of identified leads",
    ]
    if report.warning:
        lines.append(f"  WARNING    {report.warning}")
    lines += _section("MQLs per ISO week", _counts("week", report.mqls_per_week))
    lines += _section("MQLs per source", _counts("source", report.mqls_per_source))
    lines += _section("MQLs per score band", _counts("band", report.mqls_per_band))
    if report.sales is None:
        lines += _section("Sales", [f"  {NO_SALES}"])
    else:
        lines += _sales(report.sales)
    return "\n".join(lines) + "\n"


def render_comparison(comparison: Comparison) -> str:
    """Two definitions on one history: both headlines, every change, the divergent leads."""
    a, b = comparison.a, comparison.b
    lines = [f"Comparison on one history: A {a.definition}, B {b.definition}"]
    lines += _history(a)
    for name, report in (("A", a), ("B", b)):
        lines.append(f"  {name}          MQL rate {_rate(report.mql_rate)}")
        if report.warning:
            lines.append(f"  WARNING {name}  {report.warning}")
    sections: dict[str, list[Change]] = {}
    for change in comparison.changes:
        sections.setdefault(change.section, []).append(change)
    for section, changes in sections.items():
        rows = [[c.figure, _value(c.unit, c.a), _value(c.unit, c.b), _delta(c)] for c in changes]
        lines += _section(section[0].upper() + section[1:], _table(["", "A", "B", "B - A"], rows))
    divergent = []
    for lead in comparison.divergent:
        divergent.append(
            f"  {lead.lead_id}: MQL under {lead.mql_under} only, first crossing {_moment(lead.at)}"
        )
        divergent += _breakdown("A", lead.a) + _breakdown("B", lead.b)
    heading = f"Leads that are an MQL under one definition only ({len(comparison.divergent)})"
    lines += _section(heading, divergent or ["  none: both make the same leads MQL"])
    return "\n".join(lines) + "\n"


def _history(report: Report) -> list[str]:
    """The lines both reports share: the history's span, events and leads."""
    first, last = report.first_event_at, report.last_event_at
    span = f"{_moment(first)} to {_moment(last)}" if first and last else "no events"
    return [
        f"  history    {span}",
        f"  events     {report.events} applied (incl. {report.duplicates} duplicates), "
        f"invalid {report.invalid}, sales actions refused {report.refused}",
        f"  leads      {report.leads_seen} seen, {report.leads_identified} identified"
        + (f", {report.leads_erased} erased (in no figure)" if report.leads_erased else "")
        + (f", {report.leads_expired} expired" if report.leads_expired else ""),
    ]


def _sales(sales: Sales) -> list[str]:
    funnels = [("", sales.funnel)]
    funnels += [("band ", funnel) for funnel in sales.funnel_per_band]
    funnels += [("source ", funnel) for funnel in sales.funnel_per_source]
    funnel_rows = [
        [prefix + f.group, _rate(f.mql_to_sal), _rate(f.mql_to_sql), _rate(f.sql_to_opportunity)]
        for prefix, f in funnels
    ]
    rejection_rows = []
    for group in sales.rejections:
        for index, reason in enumerate(group.reasons):
            # The action and its total on its first reason only: rows read as a group.
            action, total = (group.action, str(group.total)) if index == 0 else ("", "")
            rejection_rows.append([action, total, reason.label, str(reason.count)])
    sla_rows = [
        [s.sla, s.lane, *map(str, (s.started, s.met, s.breached, s.pending)), _rate(s.compliance)]
        for s in sales.sla
    ]
    stay_rows = [
        [s.stage.value, str(s.stays), f"{s.median_hours:.1f}"] for s in sales.time_in_stage
    ]
    return (
        _section(
            "Funnel (band and source of each lead's first crossing)",
            _table(["", "MQL->SAL", "MQL->SQL", "SQL->opportunity"], funnel_rows),
        )
        + _section(
            "Rejection reasons (recycles by action, most frequent first)",
            _table(["action", "total", "reason", "count"], rejection_rows, "lrlr"),
        )
        + _section(
            "SLA compliance (pending clocks left out)",
            _table(
                ["SLA", "lane", "started", "met", "breached", "pending", "compliance"],
                sla_rows,
                "llrrrrr",
            ),
        )
        + _section(
            "Median time in stage (stays that ended)",
            _table(["stage", "stays", "median hours"], stay_rows),
        )
    )


def _breakdown(name: str, breakdown: Breakdown | None) -> list[str]:
    """One definition's view of a divergent lead: score, verdict, gates, contributions."""
    if breakdown is None:
        return [f"    {name}  no score: this definition had not seen the lead yet"]
    score = breakdown.score
    verdict = (
        "crossed"
        if breakdown.crossed
        else ("qualifies" if breakdown.qualifies else "does not qualify")
    )
    points = [f"{c.rule} {round(c.points, 1):+g}" for c in breakdown.contributions]
    return [
        f"    {name}  score {_points(score.total)} = fit {_points(score.fit)} + intent "
        f"{_points(score.intent)}, {verdict}",
        *_wrap("       gates met: ", breakdown.gates_met or ["none"], " " * 9),
        *_wrap("       contributions: ", points or ["none"], " " * 9),
    ]


def _wrap(first: str, items: Sequence[str], indent: str) -> list[str]:
    """`items` joined by commas in lines of at most WIDTH, broken between items only."""
    lines = [first + items[0]]
    for item in items[1:]:
        # ", " before the item, and room for the "," that ends the line if the next breaks.
        if len(lines[-1]) + 2 + len(item) + 1 > WIDTH:
            lines[-1] += ","
            lines.append(indent + item)
        else:
            lines[-1] += ", " + item
    return lines


def _section(heading: str, body: Sequence[str]) -> list[str]:
    return ["", heading, *body]


def _counts(label: str, counts: Sequence[Count]) -> list[str]:
    return _table([label, "MQLs"], [[count.label, str(count.count)] for count in counts])


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """Aligned columns, indented. `align` has an `l` or `r` per column; by default the first
    column (names) is aligned to the left and the others (numbers) to the right."""
    align = align or "l" + "r" * (len(header) - 1)
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(row, widths, align, strict=True)
        ]
        return ("  " + "  ".join(cells)).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _rate(rate: Rate) -> str:
    """`33.3% (1/3)`; `- (0/0)` over nothing."""
    percent = "-" if rate.percent is None else f"{rate.percent:.1f}%"
    return f"{percent} ({rate.numerator}/{rate.denominator})"


def _value(unit: Unit, value: float | None) -> str:
    if value is None:
        return "-"
    return {"count": f"{value:.0f}", "percent": f"{value:.1f}%", "hours": f"{value:.1f} h"}[unit]


def _delta(change: Change) -> str:
    """B - A: a count, percentage points or hours, signed unless 0."""
    if change.change is None:
        return "-"
    unit = {"count": "", "percent": " pp", "hours": " h"}[change.unit]
    digits = 0 if change.unit == "count" else 1
    sign = "+" if round(change.change, digits) else ""
    # abs() of a zero change: -0.0 would read "-0.0".
    value = change.change if sign else abs(change.change)
    return f"{value:{sign}.{digits}f}{unit}"


def _points(points: float) -> str:
    return f"{round(points, 1):g}"


def _moment(at: datetime) -> str:
    """An instant in UTC to the minute: `2026-01-12 08:00Z`."""
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}Z"
