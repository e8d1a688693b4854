"""What a replay of history produced: the facts every backtest figure is computed from.

Memory is bounded by the number of leads, not of events: these are the outputs (a handful
per lead) and one small record per lead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from streamproc.domain.definition import Definition
from streamproc.domain.events import LeadRouted, MqlCrossed, SlaBreached, Stage, StageChanged
from streamproc.domain.scoring import Evaluation


@dataclass(frozen=True)
class Crossing:
    """An MQL crossing with what the report groups it by."""

    event: MqlCrossed
    source: str | None
    """The lead's profile `source` when it crossed (None when never given)."""


class StageStep(NamedTuple):
    """A published stage change: its id and what the report reads of it. (A tuple: replay
    processes send every change to their parent, and the event model took 4x as long to
    unpickle.)"""

    event_id: str
    lead_id: str
    from_stage: Stage
    to_stage: Stage
    occurred_at: datetime
    reason_code: str | None = None

    @classmethod
    def of(cls, change: StageChanged) -> StageStep:
        return cls(
            change.event_id,
            change.lead_id,
            change.from_stage,
            change.to_stage,
            change.occurred_at,
            change.reason_code,
        )


class LeadSummary(NamedTuple):
    """One record per lead: enough for rates per lane and per source. (A tuple: replay
    processes send one per lead to their parent.)"""

    lane: str = "inbound"
    source: str | None = None
    identified: bool = False


@dataclass
class ReplayResult:
    """Everything one definition made of a history."""

    definition: Definition
    events: int = 0
    """Valid input events applied (duplicates included)."""
    invalid: int = 0
    """Lines or messages that are not valid events (counted, not replayed)."""
    duplicates: int = 0
    refused: int = 0
    """Sales actions the stage table refused (what the worker dead-letters)."""
    erased: int = 0
    """Leads erased on request: left out of every other figure."""
    expired: int = 0
    """Leads expired for lack of activity (the definition's `retention`): their figures
    stay, their state went, as in the worker."""
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None
    leads: dict[str, LeadSummary] = field(default_factory=dict)
    crossings: list[Crossing] = field(default_factory=list)
    stage_changes: list[StageStep] = field(default_factory=list)
    breaches: list[SlaBreached] = field(default_factory=list)
    routings: list[LeadRouted] = field(default_factory=list)


@dataclass(frozen=True)
class DivergentLead:
    """A lead that is an MQL under one definition and not under the other (compare mode).

    For the definition it did not cross under, `*_at_crossing` is that definition's score of
    the lead at the moment it crossed under the other one, with its breakdown.
    """

    lead_id: str
    crossed_a: MqlCrossed | None
    crossed_b: MqlCrossed | None
    a_at_crossing: Evaluation | None
    b_at_crossing: Evaluation | None
