"""A stage transition and what comes with it: the change event, routing and SLA clocks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamproc.domain import lifecycle
from streamproc.domain.definition import Definition
from streamproc.domain.events import LeadRouted, OutputEvent, Stage, StageChanged
from streamproc.domain.routing import assign_rep, pick_rule
from streamproc.domain.scoring import Attributes
from streamproc.domain.sla import overdue, start_clock, still_owed
from streamproc.domain.state import LeadState, Rotation, from_ms, output_id


@dataclass(frozen=True)
class Refusal:
    """An input the rules refused after it had waited: where it came from and why."""

    origin: Mapping[str, Any]
    error: str


def is_routing_point(before: Stage, after: Stage) -> bool:
    """A lead is routed to sales when it becomes an MQL, or an SQL straight from lead
    (the outbound lane, where an SDR qualifies it without an MQL)."""
    return after is Stage.MQL or (after is Stage.SQL and before is Stage.LEAD)


@dataclass
class Transitions:
    """The state of one lead while one event is applied, and what that publishes."""

    state: LeadState
    definition: Definition
    rotation: Rotation
    outputs: list[OutputEvent] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def check_deadlines(self, now_ms: int) -> None:
        """Publish a breach for every owed reaction whose deadline passed before `now_ms`."""
        if not self.state.sla_clocks:  # most events: nothing is owed
            return
        running, breaches = overdue(self.state.lead_id, self.state.sla_clocks, now_ms)
        if breaches:
            self.state = self.state.evolve(sla_clocks=running)
            self.outputs.extend(breaches)

    def settle(self, contacted: bool) -> None:
        """Stop the clocks a sales action answered."""
        clocks = still_owed(self.state.sla_clocks, self.state.stage, contacted)
        self.state = self.state.evolve(sla_clocks=clocks)

    def enter(
        self,
        to: Stage,
        at_ms: int,
        cause_id: str,
        actor: str,
        reason: str | None,
        profile_then: Attributes | None = None,
    ) -> None:
        """Move the lead to `to` at event time `at_ms`: publish the change, route it when
        it reaches sales, stop the clocks of the stage it leaves, start those of the new one.
        Lane and routing follow `profile_then`, the profile at `at_ms`, when it is not the
        newest one."""
        state = self.state
        attributes = state.profile if profile_then is None else profile_then
        self.outputs.append(
            StageChanged(
                event_id=output_id(state.lead_id, "stage", state.transitions + 1),
                lead_id=state.lead_id,
                occurred_at=from_ms(at_ms),
                from_stage=state.stage,
                to_stage=to,
                cause_event_id=cause_id,
                reason_code=reason,
                actor=actor,
            )
        )
        queue = self._route(state.stage, to, at_ms, attributes) or state.queue
        lane = lifecycle.lane_of(attributes)
        clock = start_clock(to, lane, at_ms, state.transitions + 1, queue, self.definition)
        clocks = still_owed(state.sla_clocks, to, contacted=False) + ((clock,) if clock else ())
        self.state = state.evolve(
            stage=to,
            highest_stage=lifecycle.higher(state.highest_stage, to),
            transitions=state.transitions + 1,
            stage_since_ms=at_ms,
            queue=queue,
            sla_clocks=clocks,
        )

    def _route(self, before: Stage, after: Stage, at_ms: int, attributes: Attributes) -> str | None:
        if not is_routing_point(before, after):
            return None
        rule = pick_rule(attributes, self.definition)
        rep, self.rotation = assign_rep(rule.queue, self.definition, self.rotation)
        self.outputs.append(
            LeadRouted(
                event_id=output_id(self.state.lead_id, "routing", self.state.transitions + 1),
                lead_id=self.state.lead_id,
                occurred_at=from_ms(at_ms),
                queue=rule.queue,
                rule=rule.rule,
                rep_id=rep,
            )
        )
        return rule.queue
