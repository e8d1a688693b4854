"""Reps working the simulated leads: the `sales-actions` of a simulated history.

Pure, like `streamproc.simulation`. Reps react to what the worker shows them, so each lead's
delivered events are replayed through the real `decide`, in stream order, and whenever the
lead's stage changes its rep plans what happens next in that stage: review an MQL, qualify a
SAL, call an SQL, close an opportunity. An action is taken only in the stage it was planned
for, so every action is one the stage table allows at the moment it arrives.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from streamproc.domain import lifecycle
from streamproc.domain.definition import Definition
from streamproc.domain.events import (
    InputEvent,
    MqlCrossed,
    ProfileUpdated,
    SalesActionName,
    SalesActionTaken,
    Stage,
)
from streamproc.domain.lead import Decision, decide
from streamproc.domain.routing import pick_rule
from streamproc.domain.state import LeadState

if TYPE_CHECKING:  # at run time simulation imports this module
    from streamproc.simulation import SimulatedLead

Delivery = tuple[datetime, tuple[int, int], InputEvent]
"""(delivered at, order, event): a stream is in (delivered at, order) order, and the order
(kind of delivery, number) settles events delivered at the same moment."""

Weights = tuple[tuple[str, float], ...]
"""(reason code, weight) pairs: how often reps give each reason, relative to the others."""

# Reasons in the proportions reps give them. Poor fits are mostly rejected as outside the
# ideal customer profile; good fits for timing, weak intent or because they are known already.
_REJECT_REASONS: dict[bool, Weights] = {
    True: (("low_intent", 4), ("bad_timing", 3), ("duplicate", 2), ("competitor", 1)),
    False: (("wrong_icp", 8), ("low_intent", 2), ("duplicate", 1), ("bad_data", 1)),
}
_DISQUALIFY_REASONS: Weights = (
    ("no_budget", 4),
    ("bad_timing", 3),
    ("no_authority", 2),
    ("no_need", 2),
)
_LOST_REASONS: Weights = (("competitor", 4), ("no_budget", 3), ("bad_timing", 3))
# The reason a rep gives when an answer falls short of what the definition requires.
_UNQUALIFIED: dict[str, Weights] = {
    "budget": (("no_budget", 1),),
    "authority": (("no_authority", 1),),
    "need": (("no_need", 1),),
    "timing": (("bad_timing", 1),),
}
_NEEDS = (
    "score leads in real time",
    "route MQLs to the right rep",
    "replace manual MQL review",
    "sync lifecycle stages to the CRM",
)
_LATE_REVIEW = 0.15  # of reviews, later than the definition's SLA allows
_OUTBOUND_QUALIFY = 0.6  # of outbound leads an SDR qualifies before they ever become MQLs
DEFAULT_QUALIFY_SHARE = 0.75  # of SALs, qualified after a discovery call
_SAL_DISQUALIFY = 0.6  # of SALs not qualified; the rest stall
_SQL_CONTACT = (0.8, 0.1)  # contacted within the SLA, later; the rest are never called
DEFAULT_OPPORTUNITY_SHARE = 0.5  # of SQLs called, opened as an opportunity
# At the default share, the chance of an opportunity by budget confirmed or not.
_OPPORTUNITY = {True: 0.65, False: 0.35}
_SQL_DISQUALIFY = 0.1  # of contacted SQLs without an opportunity
_SMALL_DEAL = 50_000  # below this a deal needs no procurement and closes fast
_CLOSE = (0.3, 0.4)  # won, lost; the rest stay open


@dataclass(frozen=True)
class _Step:
    at: datetime
    action: SalesActionName
    fields: dict[str, Any] = field(default_factory=dict)


def _reaction(moment: datetime, rng: random.Random, sla: timedelta, late: bool) -> datetime:
    """A reaction owed within `sla` from `moment`: after 1/24 to 20/24 of it, or too late.

    Under a 24 h SLA that is 1 to 20 hours, or 25 to 72 hours when late.
    """
    hours = sla.total_seconds() / 3600
    low, high = (25 / 24, 3) if late else (1 / 24, 20 / 24)
    return _after(moment, rng, low * hours, high * hours)


def _after(moment: datetime, rng: random.Random, low_hours: float, high_hours: float) -> datetime:
    """A moment `low_hours` to `high_hours` after `moment`, in whole UTC seconds like a CRM.

    Skewed early, as people's reaction times are: most come soon, a few take long.
    """
    mode = low_hours + (high_hours - low_hours) / 4
    seconds = math.ceil(rng.triangular(low_hours, high_hours, mode) * 3600)
    return (moment + timedelta(seconds=seconds)).astimezone(UTC).replace(microsecond=0)


def check_weights(weights: Weights) -> None:
    """Raise ValueError unless every weight is >= 0, some is > 0, and no code repeats."""
    codes = [code for code, _ in weights]
    if len(set(codes)) < len(codes):
        raise ValueError(f"a reason code is given twice: {', '.join(codes)}")
    if any(weight < 0 or not math.isfinite(weight) for _, weight in weights):
        raise ValueError("reason weights must be finite numbers >= 0")
    if not any(weight > 0 for _, weight in weights):
        raise ValueError("at least one reason needs a weight above 0")


def check_reasons(weights: Weights, definition: Definition) -> None:
    """Raise ValueError if a code is not in the definition's reason-code taxonomy."""
    unknown = [code for code, _ in weights if code not in definition.reason_codes]
    if unknown:
        valid = ", ".join(definition.reason_codes) or "none"
        raise ValueError(
            f"{', '.join(map(repr, unknown))} not in the reason codes of definition "
            f"{definition.label}; valid codes: {valid}"
        )


def _scaled(rate: float, share: float, default: float) -> float:
    """`rate` at the `default` share, moving with the share: 0 at 0, 1 at 1, and exactly
    `rate` at the default."""
    return 0.0 if share == 0 else float(rate ** (math.log(share) / math.log(default)))


@dataclass(frozen=True)
class SalesTeam:
    """The reps of a definition and how they work the leads it gives them.

    `review_rate` is the share of MQLs a rep ever reviews, `accept_share` the share of those
    accepted (the others are rejected with a reason, drawn from `reject_reasons` if given),
    `qualify_share` the share of accepted leads qualified after a discovery call, and
    `opportunity_share` the share of SQLs that open an opportunity once called.
    """

    definition: Definition
    review_rate: float
    accept_share: float
    qualify_share: float = DEFAULT_QUALIFY_SHARE
    opportunity_share: float = DEFAULT_OPPORTUNITY_SHARE
    reject_reasons: Weights | None = None

    def __post_init__(self) -> None:
        if self.reject_reasons is not None:
            check_weights(self.reject_reasons)
            check_reasons(self.reject_reasons, self.definition)

    def actions(
        self,
        lead: SimulatedLead,
        delivered: Sequence[Delivery],
        end: datetime,
        rng: random.Random,
    ) -> list[SalesActionTaken]:
        """The sales actions on one lead before `end`, given its delivered events, in order.

        Their event ids continue the lead's numbering. `decide` raises if the plan ever
        takes an action that the stage table refuses: that would be a bug here.
        """
        events = sorted(delivered, key=lambda item: item[:2])
        # Without an email a lead stays a visitor, which no rep ever sees: skip the replay.
        if not any(isinstance(event, ProfileUpdated) and event.email for *_, event in events):
            return []
        lead_id, rep = lead.lead_id, _Rep(self, lead.good_fit, rng)
        number = len({event.event_id for *_, event in events})
        state, position = LeadState(lead_id=lead_id), 0
        plan: list[_Step] = []
        taken: list[SalesActionTaken] = []
        while position < len(events) or plan:
            # Stream order is (delivered at, position) and actions come after every other
            # event in the stream, so an event delivered in the same second goes first.
            event: InputEvent
            if plan and (position == len(events) or plan[0].at < events[position][0]):
                step, number = plan.pop(0), number + 1
                event = SalesActionTaken(
                    event_id=f"{lead_id}-{number}",
                    lead_id=lead_id,
                    occurred_at=step.at,
                    action=step.action,
                    **step.fields,
                )
                taken.append(event)
                now = step.at
            else:
                now, _, event = events[position]
                position += 1
            decision = decide(state, event, self.definition)
            if decision.state.transitions != state.transitions:
                plan = [step for step in rep.plan(decision, now) if step.at < end]
            state = decision.state
        return taken


@dataclass
class _Rep:
    """The rep who owns one lead, and what it learnt about the deal while qualifying."""

    team: SalesTeam
    good_fit: bool
    rng: random.Random
    rep_id: str | None = None
    assigned: bool = False
    budget_confirmed: bool = False
    amount: float = 0.0

    def _assign(self, state: LeadState) -> None:
        """Pick an available rep of the lead's queue: the one routing put it in, or would.

        The worker's round-robin depends on partitions a simulation does not know, so the rep
        is drawn from the queue instead. The first rep keeps the lead, also after a recycle.
        """
        if self.assigned:
            return
        self.assigned = True
        definition = self.team.definition
        queue = state.queue or pick_rule(state.profile, definition).queue
        # A queue with nobody available overflows to the others, in the definition's order.
        for candidate in (definition.queues[queue], *definition.queues.values()):
            reps = [rep.id for rep in candidate.reps if rep.available]
            if reps:
                self.rep_id = self.rng.choice(reps)
                return

    def _reason(self, weights: Weights) -> str | None:
        """A reason code from the definition's taxonomy, as often as reps give it.

        A taxonomy without any of these codes gets its own codes uniformly; None if empty.
        """
        taxonomy = self.team.definition.reason_codes
        known = [(code, weight) for code, weight in weights if code in taxonomy]
        known = known or [(code, 1.0) for code in taxonomy]
        if not known:
            return None
        return self.rng.choices([code for code, _ in known], [weight for _, weight in known])[0]

    def _step(self, at: datetime, action: SalesActionName, **fields: Any) -> _Step:
        return _Step(at, action, {"rep_id": self.rep_id, **fields})

    def _with_reason(self, at: datetime, action: SalesActionName, weights: Weights) -> list[_Step]:
        """An action that needs a reason code; none when the taxonomy has no codes at all."""
        reason = self._reason(weights)
        return [] if reason is None else [self._step(at, action, reason_code=reason)]

    def _qualify(self, at: datetime, may_disqualify: bool) -> list[_Step]:
        """Qualify with BANT answers, if they meet what the definition requires of an SQL.

        When they do not, the rep disqualifies with the matching reason where the stage
        table allows it, and otherwise leaves the lead where it is.
        """
        rng = self.rng
        budget = rng.choices(("confirmed", "unknown", "none"), (6, 3, 1))[0]
        self.budget_confirmed = budget == "confirmed"
        answers: dict[str, Any] = {
            "framework": "BANT",
            "budget": budget,
            "authority": rng.random() < 0.7,
            "need": rng.choice(_NEEDS),
            "timing": rng.choices(("this-quarter", "next-quarter", "this-year"), (5, 3, 2))[0],
        }
        given = {key: str(value).lower() for key, value in answers.items()}
        short = [
            question
            for question, accepted in self.team.definition.qualification_required.items()
            if given.get(question.lower()) not in {answer.lower() for answer in accepted}
        ]
        if not short:
            return [self._step(at, "qualify", qualification=answers)]
        if not may_disqualify:
            return []
        reasons = _UNQUALIFIED.get(short[0].lower(), _DISQUALIFY_REASONS)
        return self._with_reason(at, "disqualify", reasons)

    def plan(self, decision: Decision, now: datetime) -> list[_Step]:
        """What the rep will do, in time order, in the stage the lead entered at `now`."""
        state = decision.state
        lane = lifecycle.lane_of(state.profile)
        sla = self.team.definition.sla[lane]
        if state.stage is Stage.LEAD and lane == "outbound":
            self._assign(state)
            if self.rng.random() < _OUTBOUND_QUALIFY:  # an SDR's call, days after the import
                return self._qualify(_after(now, self.rng, 24, 168), may_disqualify=False)
            return []
        if state.stage is Stage.MQL:
            self._assign(state)
            crossed = next(out for out in decision.outputs if isinstance(out, MqlCrossed))
            return self._review(crossed.occurred_at, now, sla.mql_review)
        if state.stage is Stage.SAL:
            return self._work_sal(now)
        if state.stage is Stage.SQL:
            return self._work_sql(now, sla.sql_first_touch)
        if state.stage is Stage.OPPORTUNITY:
            return self._close(now)
        return []  # visitors, leads and recycled leads are marketing's; customers are won

    def _review(self, mql_at: datetime, now: datetime, sla: timedelta) -> list[_Step]:
        """Accept or reject the MQL, mostly within the SLA from its crossing, or never."""
        rng = self.rng
        if rng.random() >= self.team.review_rate:
            return []
        at = _reaction(mql_at, rng, sla, late=rng.random() < _LATE_REVIEW)
        # An MQL made by an event that arrived late is seen only once the worker has it.
        at = max(at, _after(now, rng, 0.1, 2))
        # Reps accept good fits more readily than poor ones (0.85 and 0.51 of the default 0.8):
        # with the usual mix of MQLs, six good fits to one poor, `accept_share` of reviews
        # are accepted, and a share of 0 or 1 stays exactly that.
        if rng.random() < self.team.accept_share ** (0.75 if self.good_fit else 3):
            return [self._step(at, "accept")]
        reasons = self.team.reject_reasons or _REJECT_REASONS[self.good_fit]
        return self._with_reason(at, "reject", reasons)

    def _work_sal(self, now: datetime) -> list[_Step]:
        """Qualify the accepted lead after a discovery call some days later, or drop it."""
        at, draw, share = _after(now, self.rng, 24, 120), self.rng.random(), self.team.qualify_share
        if draw < share:
            return self._qualify(at, may_disqualify=True)
        if draw < share + (1 - share) * _SAL_DISQUALIFY:
            return self._with_reason(at, "disqualify", _DISQUALIFY_REASONS)
        return []

    def _work_sql(self, now: datetime, sla: timedelta) -> list[_Step]:
        """The first touch (owed within the SLA), then an opportunity or a disqualification."""
        rng, draw = self.rng, self.rng.random()
        if draw >= sum(_SQL_CONTACT):
            return []
        contacted = _reaction(now, rng, sla, late=draw >= _SQL_CONTACT[0])
        steps, next_at = [self._step(contacted, "contacted")], _after(contacted, rng, 24, 96)
        # Deals with a confirmed budget open more readily (0.65 and 0.35 at the default 0.5):
        # with about as many of each, `opportunity_share` of the calls open one.
        rate = _OPPORTUNITY[self.budget_confirmed]
        if rng.random() < _scaled(rate, self.team.opportunity_share, DEFAULT_OPPORTUNITY_SHARE):
            self.amount = round(math.exp(rng.uniform(math.log(5_000), math.log(200_000))), -2)
            return [*steps, self._step(next_at, "open_opportunity", amount=self.amount)]
        if rng.random() < _SQL_DISQUALIFY:
            return steps + self._with_reason(next_at, "disqualify", _DISQUALIFY_REASONS)
        return steps

    def _close(self, now: datetime) -> list[_Step]:
        """Won, lost to a competitor, budget or timing, or still open.

        Small deals close within two weeks; larger ones take two weeks to two months.
        """
        days = (2, 12) if self.amount < _SMALL_DEAL else (14, 60)
        at, draw = _after(now, self.rng, 24 * days[0], 24 * days[1]), self.rng.random()
        if draw < _CLOSE[0]:
            return [self._step(at, "close_won")]
        if draw < sum(_CLOSE):
            return self._with_reason(at, "close_lost", _LOST_REASONS)
        return []
