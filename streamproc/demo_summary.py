"""What `streamproc demo` prints: the worker's outputs as they happen, counts, a summary.

Plain lines that read the same in a terminal and in a CI log; colour only on a terminal
(click.echo drops the styling when stdout is not one).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import click
from aiokafka import AIOKafkaConsumer

from streamproc.domain.events import (
    DeadLettered,
    LeadRouted,
    MqlCrossed,
    SlaBreached,
    Stage,
    StageChanged,
)
from streamproc.kafka_client import client_options
from streamproc.settings import Settings
from streamproc.simulation import SimulatedLead

WATCHED = ("mql-crossed", "lead-routing", "lead-stage-changes", "sla-breaches", "dead-letters")
"""The output topics (without prefix) the demo shows."""

QUIET_STAGES = frozenset({Stage.VISITOR, Stage.LEAD, Stage.MQL})
"""Stages reached without a line of their own: every identified lead becomes a lead, and an
MQL has its MQL line. The rest (a few dozen changes in the default demo) get a STAGE line."""


class Console:
    """Tagged lines with the time since the demo started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since the demo started."""
        return time.monotonic() - self.started

    def line(self, tag: str, text: str, colour: str | None = None) -> None:
        """Print one line: `[  12.3s] tag     text`, the tag coloured on a terminal."""
        styled = click.style(f"{tag:<7}", fg=colour, bold=True) if colour else f"{tag:<7}"
        click.echo(f"[{self.elapsed:6.1f}s] {styled} {text}")


@dataclass
class Tally:
    """What went in and what came out, for the counts lines and the final summary."""

    leads: int = 0
    planned: int = 0
    produced: int = 0
    actions: int = 0
    retries: int = 0
    bad: int = 0
    records: Counter[str] = field(default_factory=Counter)
    stages: Counter[Stage] = field(default_factory=Counter)
    mql_fit: Counter[str] = field(default_factory=Counter)
    queues: Counter[str] = field(default_factory=Counter)
    breaches: Counter[str] = field(default_factory=Counter)

    def _stages(self) -> str:
        """Stage changes by stage reached, in the order of progress: ` (lead 151, mql 22)`."""
        counts = [f"{stage} {self.stages[stage]}" for stage in Stage if self.stages[stage]]
        return f" ({', '.join(counts)})" if counts else ""

    def counts(self) -> str:
        """One line of counts: events in, records per output topic, stages reached."""
        return (
            f"produced {self.produced}/{self.planned} events"
            f" | mql-crossed {self.records['mql-crossed']}"
            f" | lead-routing {self.records['lead-routing']}"
            f" | lead-stage-changes {self.records['lead-stage-changes']}{self._stages()}"
            f" | sla-breaches {self.records['sla-breaches']}"
            f" | dead-letters {self.records['dead-letters']}"
        )

    def summary(self, elapsed: float) -> list[str]:
        """The final summary, one fact a line."""
        fits = ", ".join(f"{count} {fit}" for fit, count in sorted(self.mql_fit.items()))
        return [
            f"events in      {self.produced} for {self.leads} leads (incl. {self.actions} "
            f"sales actions, {self.retries} producer retries and {self.bad} bad messages)",
            f"MQLs           {self.records['mql-crossed']}" + (f" ({fits})" if fits else ""),
            f"routed         {self.records['lead-routing']}{_breakdown(self.queues)}",
            f"stage changes  {self.records['lead-stage-changes']}{self._stages()}",
            f"SLA breaches   {self.records['sla-breaches']}{_breakdown(self.breaches)}",
            f"dead letters   {self.records['dead-letters']}",
            f"elapsed        {elapsed:.1f} s",
        ]


def _breakdown(counts: Counter[str]) -> str:
    """` (enterprise 3, smb 12)`: counts by name, in name order; empty when there are none."""
    return f" ({', '.join(f'{name} {n}' for name, n in sorted(counts.items()))})" if counts else ""


def _moment(at: datetime) -> str:
    """An instant in UTC to the minute, short enough for a log line: `2026-01-05 14:03Z`."""
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def describe_lead(lead: SimulatedLead | None) -> str:
    """Who a lead is, as the simulation made it: company, size, industry, country, title."""
    if lead is None:
        return "(not a simulated lead)"
    company, fit = lead.company, "good fit" if lead.good_fit else "poor fit"
    return (
        f"{company.name} ({company.industry}, {company.employees} employees, {company.country}; "
        f"{lead.person.title}; {fit})"
    )


def describe_mql(event: MqlCrossed, lead: SimulatedLead | None) -> str:
    """An MQL crossing in one line: who, the score against the threshold, why, which gates."""
    score = event.score
    reasons = ", ".join(f"{item.rule} {item.points:+g}" for item in event.contributions)
    return (
        f"{event.lead_id} {describe_lead(lead)}: fit {score.fit:g} + intent {score.intent:g} "
        f"= {score.total:g} >= {event.threshold:g} [{reasons}] gates {', '.join(event.gates_met)}"
        + (f" lane {event.lane}" if event.lane != "inbound" else "")
    )


def describe_routing(event: LeadRouted) -> str:
    """A routing decision: `lead-00042 -> enterprise (rule enterprise_by_size), rep rep-ava`."""
    rep = f"rep {event.rep_id}" if event.rep_id else "no rep available"
    return f"{event.lead_id} -> {event.queue} (rule {event.rule}), {rep}"


def describe_breach(event: SlaBreached) -> str:
    """A missed SLA: which, since when (the stage entry), the deadline and the queue."""
    return (
        f"{event.lead_id} {event.sla} missed: {event.stage.upper()} at "
        f"{_moment(event.started_at)}, deadline {_moment(event.deadline)}, "
        f"queue {event.queue or 'none'}"
    )


def describe_stage_change(event: StageChanged) -> str:
    """A stage change: `lead-00042 sal -> sql by rep-ava`, with the reason code if any."""
    reason = f", reason {event.reason_code}" if event.reason_code else ""
    return f"{event.lead_id} {event.from_stage} -> {event.to_stage} by {event.actor}{reason}"


def describe_dead_letter(event: DeadLettered, prefix: str) -> str:
    """A dead letter in one line: where the message was and why it failed."""
    topic = event.topic.removeprefix(prefix)
    return f"{topic}[{event.partition}]@{event.offset} key {event.key!r}: {event.error}"


@dataclass
class OutputWatcher:
    """Reads the watched output topics from the start and prints each record worth a line."""

    settings: Settings
    leads: Mapping[str, SimulatedLead]
    tally: Tally
    console: Console

    def show(self, topic: str, value: bytes) -> None:
        """Count one output record and print a line for it, unless it is a quiet stage change."""
        self.tally.records[topic] += 1
        if topic == "mql-crossed":
            crossed = MqlCrossed.model_validate_json(value)
            lead = self.leads.get(crossed.lead_id)
            self.tally.mql_fit["good fit" if lead and lead.good_fit else "poor fit"] += 1
            self.console.line("MQL", describe_mql(crossed, lead), "green")
        elif topic == "lead-routing":
            routed = LeadRouted.model_validate_json(value)
            self.tally.queues[routed.queue] += 1
            self.console.line("ROUTE", describe_routing(routed), "blue")
        elif topic == "lead-stage-changes":
            change = StageChanged.model_validate_json(value)
            self.tally.stages[change.to_stage] += 1
            if change.to_stage not in QUIET_STAGES:
                self.console.line("STAGE", describe_stage_change(change), "magenta")
        elif topic == "sla-breaches":
            breach = SlaBreached.model_validate_json(value)
            self.tally.breaches[breach.sla] += 1
            self.console.line("SLA", describe_breach(breach), "yellow")
        else:
            failed = DeadLettered.model_validate_json(value)
            text = describe_dead_letter(failed, self.settings.topic_prefix)
            self.console.line("DEAD", text, "red")

    async def run(self) -> None:
        """Consume until cancelled. Without a group: every partition, no offsets committed."""
        consumer = AIOKafkaConsumer(
            *(self.settings.topic(name) for name in WATCHED),
            **client_options(self.settings),
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for partition, records in batches.items():
                    topic = partition.topic.removeprefix(self.settings.topic_prefix)
                    for record in records:
                        self.show(topic, record.value)
        finally:
            await consumer.stop()


async def report_counts(tally: Tally, console: Console, every: float = 5.0) -> None:
    """Print the counts line every `every` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        console.line("counts", tally.counts(), "cyan")
