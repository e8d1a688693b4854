"""The backtest figures that need sales actions: funnel, rejection reasons, SLA compliance
and time in stage, all read from the stage changes and breaches the replay published."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median
from typing import cast

from streamproc.backtest.figures import NO_SOURCE, Bands, Count, Rate, ranked, rate, source_of
from streamproc.backtest.result import Crossing, ReplayResult, StageStep
from streamproc.domain.events import Lane, Stage
from streamproc.domain.lifecycle import TRANSITIONS
from streamproc.domain.sla import OWED_ON_ENTRY

NO_SALES = "no sales actions in this history"
SALES_STAGES = frozenset({Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER, Stage.RECYCLED})
"""Stages only a rep's action reaches: a history without them has no sales actions."""
RECYCLED_BY = {
    before: action
    for action, moves in TRANSITIONS.items()
    for before, after in moves.items()
    if after is Stage.RECYCLED
}
"""The action that recycles a lead from each stage, read from the stage table:
mql -> reject, sal and sql -> disqualify, opportunity -> close_lost."""
_HOUR = timedelta(hours=1)
History = Mapping[str, Sequence[StageStep]]
"""Each lead's stage changes in event-time order."""


@dataclass(frozen=True)
class Funnel:
    """Conversion of one group of leads: `overall`, a score band or a source.

    MQL->SAL and MQL->SQL: of the group's MQL leads, those that ever reached sal, or sql at or
    after their first crossing. SQL->opportunity: of the group's leads that reached sql, those
    that ever reached opportunity; overall that is every lead (outbound SQLs that never were
    MQLs included), in a band or source group only its MQL leads.
    """

    group: str
    mql_to_sal: Rate
    mql_to_sql: Rate
    sql_to_opportunity: Rate


@dataclass(frozen=True)
class Rejections:
    """Recycles by one action (reject, disqualify, close_lost): reason codes, most frequent
    first."""

    action: str
    total: int
    reasons: tuple[Count, ...]


@dataclass(frozen=True)
class SlaCompliance:
    """Clocks of one SLA in one lane. A clock still running when the history ends is pending
    and left out: compliance = met / (started - pending) = 1 - breached / (started - pending).
    """

    sla: str
    lane: str
    started: int
    met: int
    breached: int
    pending: int
    compliance: Rate


@dataclass(frozen=True)
class StageTime:
    """Median hours from entering a stage to the lead's next stage change, over the stays
    that ended (a lead in a stage twice counts twice)."""

    stage: Stage
    stays: int
    median_hours: float


@dataclass(frozen=True)
class Sales:
    """Funnel overall, per band and per source of each lead's first crossing (bands and
    sources without MQL leads left out); recycles, the action with most first; SLA
    compliance per SLA and lane in name order; time in stage in order of progress."""

    funnel: Funnel
    funnel_per_band: tuple[Funnel, ...]
    funnel_per_source: tuple[Funnel, ...]
    rejections: tuple[Rejections, ...]
    sla: tuple[SlaCompliance, ...]
    time_in_stage: tuple[StageTime, ...]


def sales_figures(
    result: ReplayResult, first: Mapping[str, Crossing], bands: Bands
) -> Sales | None:
    """The sales figures of `result`, given each MQL lead's first crossing; None when no
    stage change reaches a stage only a rep's action reaches (NO_SALES)."""
    if not any(change.to_stage in SALES_STAGES for change in result.stage_changes):
        return None
    history: dict[str, list[StageStep]] = defaultdict(list)
    # A stable sort: changes at the same instant keep the order the replay published them in.
    for change in sorted(result.stage_changes, key=lambda change: change.occurred_at):
        history[change.lead_id].append(change)
    since = {lead_id: crossing.event.occurred_at for lead_id, crossing in first.items()}
    per_band: dict[str, list[str]] = {label: [] for label in bands.labels}
    per_source: dict[str, list[str]] = defaultdict(list)
    for lead_id, crossing in first.items():
        per_band[bands.of(crossing)].append(lead_id)
        per_source[source_of(crossing)].append(lead_id)
    sources = sorted(per_source, key=lambda source: (-len(per_source[source]), source))
    return Sales(
        funnel=_funnel("overall", history.keys() | since.keys(), history, since),
        funnel_per_band=tuple(
            _funnel(band, leads, history, since) for band, leads in per_band.items() if leads
        ),
        funnel_per_source=tuple(
            _funnel(source, per_source[source], history, since) for source in sources
        ),
        rejections=_rejections(result.stage_changes),
        sla=_sla(result, history),
        time_in_stage=_time_in_stage(history),
    )


def _funnel(
    group: str, leads: Collection[str], history: History, since: Mapping[str, datetime]
) -> Funnel:
    def reached(lead_id: str, stage: Stage, after: datetime | None = None) -> bool:
        return any(
            change.to_stage is stage and (after is None or change.occurred_at >= after)
            for change in history.get(lead_id, ())
        )

    mqls = [lead_id for lead_id in leads if lead_id in since]
    sqls = [lead_id for lead_id in leads if reached(lead_id, Stage.SQL)]
    return Funnel(
        group=group,
        mql_to_sal=rate(sum(reached(lead_id, Stage.SAL) for lead_id in mqls), len(mqls)),
        mql_to_sql=rate(
            sum(reached(lead_id, Stage.SQL, since[lead_id]) for lead_id in mqls), len(mqls)
        ),
        sql_to_opportunity=rate(
            sum(reached(lead_id, Stage.OPPORTUNITY) for lead_id in sqls), len(sqls)
        ),
    )


def _rejections(changes: Iterable[StageStep]) -> tuple[Rejections, ...]:
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for change in changes:
        if change.to_stage is Stage.RECYCLED:
            reasons[RECYCLED_BY[change.from_stage]][change.reason_code or NO_SOURCE] += 1
    # sorted() is stable: actions with as many recycles stay in stage-table order.
    actions = sorted(reasons, key=lambda action: -reasons[action].total())
    return tuple(
        Rejections(action, reasons[action].total(), ranked(reasons[action])) for action in actions
    )


def _sla(result: ReplayResult, history: History) -> tuple[SlaCompliance, ...]:
    """A clock starts on entering a stage that owes a reaction (`OWED_ON_ENTRY`), with the
    duration of the lead's lane. It is breached when the replay published its breach
    (same lead, SLA and start); pending when the lead never left the stage and the deadline
    lies after the last event; met otherwise: the lead left the stage in time, or an action
    that moves no stage (an SQL's `contacted`) settled it, since no breach came."""
    breached = {(breach.lead_id, breach.sla, breach.started_at) for breach in result.breaches}
    end = result.last_event_at
    tally: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for lead_id, changes in history.items():
        summary = result.leads.get(lead_id)
        # A lead's lane is inbound unless its profile says otherwise (DESIGN.md).
        lane = cast(Lane, summary.lane if summary else "inbound")
        for index, change in enumerate(changes):
            sla = OWED_ON_ENTRY.get(change.to_stage)
            if sla is None:
                continue
            allowed: timedelta = getattr(result.definition.sla[lane], sla)
            running = index == len(changes) - 1 and (
                end is None or change.occurred_at + allowed > end
            )
            if (lead_id, sla, change.occurred_at) in breached:
                tally[sla, lane]["breached"] += 1
            else:
                tally[sla, lane]["pending" if running else "met"] += 1
    return tuple(
        SlaCompliance(
            sla=sla,
            lane=lane,
            started=counts.total(),
            met=counts["met"],
            breached=counts["breached"],
            pending=counts["pending"],
            compliance=rate(counts["met"], counts["met"] + counts["breached"]),
        )
        for (sla, lane), counts in sorted(tally.items())
    )


def _time_in_stage(history: History) -> tuple[StageTime, ...]:
    """Stages no stay has ended in, and `visitor` (no change enters it), are left out."""
    hours: dict[Stage, list[float]] = defaultdict(list)
    for changes in history.values():
        for entered, left in pairwise(changes):
            hours[entered.to_stage].append((left.occurred_at - entered.occurred_at) / _HOUR)
    return tuple(
        StageTime(stage, len(hours[stage]), median(hours[stage]))
        for stage in Stage
        if stage in hours
    )
