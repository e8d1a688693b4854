"""The one function that applies an event to a lead: `decide`.

`decide(state, event, definition, rotation)` is pure: it returns the new state, the events to
publish and the queue rotation after them. Applying the same history gives the same state and
the same output ids, which is what makes a restart, a replay and a backtest agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamproc.domain import lifecycle, profile
from streamproc.domain.definition import Definition
from streamproc.domain.events import (
    ClockTicked,
    InputEvent,
    LeadErased,
    LeadErasureRequested,
    MqlCrossed,
    OutputEvent,
    SalesActionTaken,
    Stage,
)
from streamproc.domain.intake import is_duplicate, matching_signals, take_in
from streamproc.domain.lifecycle import DisallowedActionError, DomainError
from streamproc.domain.retention import is_expired
from streamproc.domain.scoring import can_qualify, explain, fit_points, tally
from streamproc.domain.state import LeadState, ParkedAction, Rotation, from_ms, output_id, to_ms
from streamproc.domain.transition import Refusal, Transitions

_NO_TURNS_YET = Rotation()
PARK_GRACE_MS = 60_000
"""How long a sales action that is not allowed yet waits for the event that would allow it."""
PARKED_AT_MOST = 8
"""More waiting actions than this for one lead are refused at once: memory stays bounded."""


@dataclass(frozen=True)
class Arrival:
    """How an event reached the worker: on the receiving clock, from where, how long a sales
    action that is not allowed yet may wait. Without it (a replay) the event time stands in."""

    received_ms: int
    origin: Mapping[str, Any] = field(default_factory=dict)
    grace_ms: int = PARK_GRACE_MS


@dataclass(frozen=True)
class Decision:
    state: LeadState
    outputs: tuple[OutputEvent, ...] = ()
    duplicate: bool = False
    """Nothing changed, nothing to keep: a repeated event (or a tick for a lead not held)."""
    rotation: Rotation = field(default_factory=Rotation)
    refused: tuple[Refusal, ...] = ()
    """Parked inputs given up on: each goes to dead-letters."""
    erase: bool = False
    """Delete every record of the lead: its state, with its parked actions, and its owed
    deadlines. `state` is then the empty lead that a later event of it starts from."""
    expired: bool = False
    """With `erase`: the lead expired for lack of activity (the definition's `retention`),
    nobody asked to forget it."""


def _decision(run: Transitions) -> Decision:
    return Decision(
        run.state, tuple(run.outputs), rotation=run.rotation, refused=tuple(run.refused)
    )


def _cross_mql(run: Transitions, cause: InputEvent, at_ms: int) -> None:
    """Cross into MQL at the first moment from `at_ms` on when score and gates qualify.

    The moments are the event's own time, every later kept hit and every later profile
    change, so an event that arrives late still crosses at the event time where the history
    says the lead qualified, scored with the profile the lead had then; but never before the
    lead entered its stage (a visit read after the profile that identified the lead cannot
    make it an MQL before it was a lead). After a recycle only newer intent counts.
    """
    state, definition = run.state, run.definition
    earliest = max(at_ms, state.stage_since_ms or at_ms)
    profile_changes = profile.changes_after(state, earliest)
    attributes, fit = state.profile, fit_points(state.profile, definition)
    hits = state.countable_hits
    if not profile_changes and not can_qualify(fit, definition, any(hits.values())):
        return  # most leads: one profile at every moment, too poor a fit (or no intent)
    later = {t for kept in hits.values() for t, _ in kept if t > earliest}
    for moment in sorted({earliest, *later, *profile_changes}):
        if profile_changes:
            attributes = profile.as_of(state, moment)
            fit = fit_points(attributes, definition)
        scored = tally(fit, hits, definition, moment)
        if not scored.qualifies:
            continue
        evaluation = explain(scored, definition)
        crossing = state.crossings + 1
        run.outputs.append(
            MqlCrossed(
                event_id=output_id(state.lead_id, "mql-crossed", definition.name, crossing),
                lead_id=state.lead_id,
                occurred_at=from_ms(moment),
                score=evaluation.score,
                threshold=definition.threshold,
                definition=definition.label,
                contributions=evaluation.contributions,
                gates_met=evaluation.gates_met,
                trigger_event_id=cause.event_id,
                lane=lifecycle.lane_of(attributes),
                crossing=crossing,
            )
        )
        run.state = state.evolve(crossings=crossing)
        run.enter(Stage.MQL, moment, cause.event_id, "system", None, profile_then=attributes)
        return


def _act(run: Transitions, action: SalesActionTaken, at_ms: int) -> None:
    """A rep's action: remembered for de-duplication, then the stage table decides."""
    state = run.state
    move = lifecycle.next_stage(
        state.stage, lifecycle.lane_of(state.profile), action, run.definition
    )
    recent = (*state.action_ids, action.event_id)[-lifecycle.ACTIONS_KEPT :]
    run.state = state.evolve(action_ids=recent)
    if move is None:
        run.settle(contacted=action.action == "contacted")
        return
    run.enter(move, at_ms, action.event_id, action.rep_id or "unknown", action.reason_code)
    if move is Stage.RECYCLED:
        run.state = run.state.evolve(intent_since_ms=at_ms)
        # Intent newer than the recycle may already be kept: topics are read independently,
        # so a visit after the reject in event time can be read before it. It counts now.
        _cross_mql(run, action, at_ms)


def _park(run: Transitions, action: SalesActionTaken, arrival: Arrival, reason: str) -> None:
    waiting = ParkedAction(
        action=action,
        origin=dict(arrival.origin),
        expires_ms=arrival.received_ms + arrival.grace_ms,
        reason=reason,
    )
    run.state = run.state.evolve(parked=(*run.state.parked, waiting))


def _retry_parked(run: Transitions) -> None:
    """Apply, in event-time order, every waiting action that the lead's stage now allows."""
    progressed = bool(run.state.parked)
    while progressed:
        progressed = False
        for waiting in sorted(run.state.parked, key=lambda p: p.action.occurred_at):
            rest = tuple(p for p in run.state.parked if p is not waiting)
            before, published = run.state, len(run.outputs)
            run.state = run.state.evolve(parked=rest)
            at_ms = waiting.action.occurred_ms
            try:
                run.check_deadlines(at_ms)  # as if it had been read in its place in time
                _act(run, waiting.action, at_ms)
            except DisallowedActionError:
                run.state = before
                del run.outputs[published:]
                continue
            except DomainError as error:  # allowed now, but wrong in itself
                run.refused.append(Refusal(waiting.origin, str(error)))
            progressed = True
            break


def _expire_parked(run: Transitions, now_ms: int) -> None:
    expired = [p for p in run.state.parked if p.expires_ms <= now_ms]
    if expired:
        kept = tuple(p for p in run.state.parked if p.expires_ms > now_ms)
        run.state = run.state.evolve(parked=kept)
        run.refused.extend(Refusal(p.origin, p.reason) for p in expired)


def _erase(run: Transitions, request: LeadErasureRequested) -> Decision:
    """Forget the lead: first what its history already owed (a breach due before the request
    is a fact of the past, which a replay publishes too), then everything it holds."""
    run.check_deadlines(request.occurred_ms)
    erased = LeadErased(
        event_id=output_id(request.lead_id, "lead-erased", request.event_id),
        lead_id=request.lead_id,
        erased_at=request.requested_at,
    )
    return Decision(
        LeadState(lead_id=request.lead_id),
        (*run.outputs, erased),
        rotation=run.rotation,
        erase=True,
    )


def decide(
    state: LeadState | None,
    event: InputEvent | ClockTicked,
    definition: Definition,
    rotation: Rotation | None = None,
    arrival: Arrival | None = None,
) -> Decision:
    """Apply one event to a lead: the new state, the events to publish, the queue rotation.

    A repeated `event_id` changes nothing. Every event first checks the lead's SLA deadlines
    against its event time (a tick, against its clock): a reaction owed before then is a
    breach. A profile with an email turns a visitor into a lead; a lead (or a recycled lead)
    whose score and gates qualify crosses into MQL and is routed. A sales action moves the
    stage by the table in `lifecycle`. One the table does not allow yet waits (see
    `ParkedAction`) and is refused when its wait is over; one that is wrong in itself (a
    missing reason code) raises a `lifecycle.DomainError` and changes nothing.

    An erasure request of a lead that is held publishes any breach owed before it, then
    `lead-erased`, and decides `erase`: nothing of the lead is kept, its parked actions are
    dropped (not dead-lettered: a dead letter would repeat what is to be forgotten). Of a
    lead not held (unknown, or erased already) it changes nothing, so a repeated request is
    harmless. Any event of the lead after an erasure, whatever its event time, starts a new,
    empty lead: nothing of the erased one is left to compare it with.

    A lead expires by the definition's `retention` (`retention.is_expired`): a tick on a clock
    past its expiry publishes what it owed, then decides `erase` with `expired`, publishing
    nothing else; an event dated past its expiry starts a new lead, as after that tick.
    """
    if state is None and isinstance(event, ClockTicked | LeadErasureRequested):
        # Nothing held, nothing owed or to forget (the lead was erased after the timer ticked
        # it, or twice): keeping an empty lead would bring its id back into the table.
        return Decision(
            LeadState(lead_id=event.lead_id), duplicate=True, rotation=rotation or _NO_TURNS_YET
        )
    state = state or LeadState(lead_id=event.lead_id)
    run = Transitions(state, definition, rotation or _NO_TURNS_YET)
    if isinstance(event, LeadErasureRequested):
        return _erase(run, event)
    if isinstance(event, ClockTicked):
        now_ms = to_ms(event.at)
        run.check_deadlines(now_ms)
        _expire_parked(run, now_ms)
        if is_expired(run.state, definition.retention, now_ms):
            # What its history owed is published first; then nothing of it is kept.
            empty = LeadState(lead_id=state.lead_id)
            return Decision(
                empty,
                tuple(run.outputs),
                rotation=run.rotation,
                erase=True,
                expired=True,
                refused=tuple(run.refused),
            )
        return _decision(run)
    if is_expired(state, definition.retention, event.occurred_ms):
        # The lead expired before this event, whether or not a tick said so yet: the event
        # starts a new lead, as it does after the tick, so a replay and the live run agree.
        state = LeadState(lead_id=event.lead_id)
        run = Transitions(state, definition, run.rotation)
    signals = matching_signals(event, definition)
    if is_duplicate(state, event, signals):
        return Decision(state, duplicate=True, rotation=run.rotation)
    at_ms = event.occurred_ms
    allowing = _what_allows_actions(state) if state.parked else None
    run.check_deadlines(at_ms)
    if run.outputs and is_expired(run.state, definition.retention, at_ms):
        # The breach settled the reaction that kept the lead, long enough ago that it expired
        # before this event: as after the ticks a replay gives it, the event starts a new lead.
        breaches = run.outputs
        run = Transitions(LeadState(lead_id=event.lead_id), definition, run.rotation)
        run.outputs.extend(breaches)
        allowing = None
    if isinstance(event, SalesActionTaken):
        try:
            _act(run, event, at_ms)
        except DisallowedActionError as error:
            if len(run.state.parked) >= PARKED_AT_MOST:
                # Re-raised here, not from a function given the error: a frame that raises
                # an exception held in its own variable makes a reference cycle, which only
                # the collector frees, with all the worker's batch its traceback reaches.
                raise
            _park(run, event, arrival or Arrival(received_ms=at_ms), str(error))
    else:
        run.state, may_rise = take_in(run.state, event, signals, at_ms, definition)
        if run.state.stage is Stage.VISITOR and "email" in run.state.profile:
            run.enter(Stage.LEAD, at_ms, event.event_id, "system", None)
            may_rise = True
        if may_rise and run.state.stage in (Stage.LEAD, Stage.RECYCLED):
            _cross_mql(run, event, at_ms)
    # Only actions that waited before this event may be allowed now: one it parked found
    # the stage as it is.
    if allowing and run.state.parked and _what_allows_actions(run.state) != allowing:
        _retry_parked(run)
    return _decision(run)


def _what_allows_actions(state: LeadState) -> tuple[Stage, str]:
    """What the stage table looks at (`lifecycle.next_stage`): a waiting action that was not
    allowed stays so until one of these changes, so only then is it worth retrying."""
    return state.stage, lifecycle.lane_of(state.profile)
