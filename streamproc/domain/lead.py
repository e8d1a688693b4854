"""A lead's state and the one function that applies an input event to it.

`decide(state, event, definition)` is pure: it returns the new state and the events to
publish. Applying the same history gives the same state and the same output ids, which is
what makes a restart, a replay and a backtest agree with the live run.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, uuid5

from pydantic import BaseModel, ConfigDict

from streamproc.domain import lifecycle
from streamproc.domain.definition import Definition
from streamproc.domain.events import (
    ContentDownloaded,
    DemoBooked,
    InputEvent,
    MqlCrossed,
    OutputEvent,
    PageVisited,
    ProfileUpdated,
    SalesActionTaken,
    Stage,
    StageChanged,
)
from streamproc.domain.scoring import MS_PER_SECOND, Hit, score_lead

_OUTPUT_IDS = uuid5(NAMESPACE_URL, "https://streamproc.dev/output-events")


class LeadState(BaseModel):
    """Everything the worker keeps about one lead. Bounded in size whatever its traffic."""

    model_config = ConfigDict(frozen=True)

    lead_id: str
    stage: Stage = Stage.VISITOR
    highest_stage: Stage = Stage.VISITOR
    transitions: int = 0
    crossings: int = 0
    clock_ms: int | None = None
    """The newest event time seen for this lead."""
    profile: dict[str, str | int | float] = {}
    profile_times: dict[str, int] = {}
    """Event time of the update that set each profile field: the newest update wins."""
    hits: dict[str, tuple[Hit, ...]] = {}
    """Per signal, the matching events that can still count, oldest first."""
    intent_since_ms: int | None = None
    """After a recycle only intent newer than this counts towards the next crossing."""
    action_ids: tuple[str, ...] = ()
    """The newest sales-action event ids, to count a repeated action once."""


@dataclass(frozen=True)
class Decision:
    state: LeadState
    outputs: tuple[OutputEvent, ...] = ()
    duplicate: bool = False


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * MS_PER_SECOND)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / MS_PER_SECOND, tz=UTC)


def output_id(*parts: object) -> str:
    """A deterministic event id for an output: the same parts always give the same id."""
    return str(uuid5(_OUTPUT_IDS, "/".join(str(part) for part in parts)))


def matching_signals(event: InputEvent, definition: Definition) -> list[str]:
    """The names of the definition's signals that this event counts towards."""
    names = []
    for name, signal in definition.intent.signals.items():
        if isinstance(event, PageVisited):
            matches = signal.topic == "page-visits" and (
                signal.url_regex is None or signal.url_regex.search(event.url) is not None
            )
        elif isinstance(event, ContentDownloaded):
            matches = (
                signal.topic == "downloads"
                and (signal.asset_id is None or event.asset_id in signal.asset_id)
                and (signal.asset_type is None or (event.asset_type or "") in signal.asset_type)
                and (signal.funnel_stage is None or event.funnel_stage in signal.funnel_stage)
            )
        else:
            matches = isinstance(event, DemoBooked) and signal.topic == "demo-bookings"
        if matches:
            names.append(name)
    return names


def _is_duplicate(state: LeadState, event: InputEvent) -> bool:
    if isinstance(event, SalesActionTaken):
        return event.event_id in state.action_ids
    return any(event_id == event.event_id for hits in state.hits.values() for _, event_id in hits)


def _merge_profile(state: LeadState, event: ProfileUpdated, at_ms: int) -> LeadState:
    profile, times = dict(state.profile), dict(state.profile_times)
    for name, value in event.attributes().items():
        if at_ms >= times.get(name, at_ms):
            profile[name], times[name] = value, at_ms
    return state.model_copy(update={"profile": profile, "profile_times": times})


def _record_hits(
    state: LeadState, event: InputEvent, at_ms: int, definition: Definition
) -> LeadState:
    """Add the event to each signal it matches; forget hits that can no longer count.

    A hit is kept while it is among the signal's `events_kept` newest and younger than two of
    the longest windows: one window for it to count in, one of allowed lateness, so that an
    event arriving up to a window late is still scored at its own event time.
    """
    clock = max(at_ms, state.clock_ms or at_ms)
    horizon = clock - 2 * int(definition.longest_window.total_seconds() * MS_PER_SECOND)
    hits = dict(state.hits)
    for name in matching_signals(event, definition) if at_ms > horizon else ():
        kept = list(hits.get(name, ()))
        bisect.insort(kept, (at_ms, event.event_id))
        hits[name] = tuple(hit for hit in kept[-definition.events_kept[name] :] if hit[0] > horizon)
    return state.model_copy(update={"hits": hits, "clock_ms": clock})


def _change_stage(
    state: LeadState, to: Stage, at_ms: int, cause: InputEvent, actor: str, reason: str | None
) -> tuple[LeadState, StageChanged]:
    change = StageChanged(
        event_id=output_id(state.lead_id, "stage", state.transitions + 1),
        lead_id=state.lead_id,
        occurred_at=from_ms(at_ms),
        from_stage=state.stage,
        to_stage=to,
        cause_event_id=cause.event_id,
        reason_code=reason,
        actor=actor,
    )
    new_state = state.model_copy(
        update={
            "stage": to,
            "highest_stage": lifecycle.higher(state.highest_stage, to),
            "transitions": state.transitions + 1,
        }
    )
    return new_state, change


def _cross_mql(
    state: LeadState, cause: InputEvent, at_ms: int, definition: Definition
) -> tuple[LeadState, tuple[OutputEvent, ...]]:
    """Cross into MQL at the first moment from `at_ms` on when score and gates qualify.

    The moments are the event's own time and every later kept hit, so an event that arrives
    late still crosses at the event time where the history says the lead qualified.
    """
    since = state.intent_since_ms
    hits = {
        name: tuple(hit for hit in kept if since is None or hit[0] > since)
        for name, kept in state.hits.items()
    }
    later = {t for kept in hits.values() for t, _ in kept if t > at_ms}
    for moment in sorted({at_ms, *later}):
        evaluation = score_lead(state.profile, hits, definition, moment)
        if not evaluation.qualifies:
            continue
        crossing = state.crossings + 1
        crossed = MqlCrossed(
            event_id=output_id(state.lead_id, "mql-crossed", definition.name, crossing),
            lead_id=state.lead_id,
            occurred_at=from_ms(moment),
            score=evaluation.score,
            threshold=definition.threshold,
            definition=definition.label,
            contributions=evaluation.contributions,
            gates_met=evaluation.gates_met,
            trigger_event_id=cause.event_id,
            lane=lifecycle.lane_of(state.profile),
            crossing=crossing,
        )
        state, change = _change_stage(
            state.model_copy(update={"crossings": crossing}),
            Stage.MQL,
            moment,
            cause,
            "system",
            None,
        )
        return state, (crossed, change)
    return state, ()


def decide(state: LeadState | None, event: InputEvent, definition: Definition) -> Decision:
    """Apply one input event to a lead: the new state and the events to publish.

    A repeated `event_id` changes nothing. A profile with an email turns a visitor into a
    lead; a lead (or a recycled lead) whose score and gates qualify crosses into MQL. A sales
    action moves the stage by the table in `lifecycle`; one the table does not allow raises
    `lifecycle.DisallowedActionError` and changes nothing.
    """
    state = state or LeadState(lead_id=event.lead_id)
    if _is_duplicate(state, event):
        return Decision(state, duplicate=True)
    at_ms = to_ms(event.occurred_at)
    if isinstance(event, SalesActionTaken):
        move = lifecycle.next_stage(
            state.stage, lifecycle.lane_of(state.profile), event, definition
        )
        state = state.model_copy(
            update={"action_ids": (*state.action_ids, event.event_id)[-lifecycle.ACTIONS_KEPT :]}
        )
        if move is None:
            return Decision(state)
        state, change = _change_stage(
            state, move, at_ms, event, event.rep_id or "unknown", event.reason_code
        )
        if move is Stage.RECYCLED:
            state = state.model_copy(update={"intent_since_ms": at_ms})
        return Decision(state, (change,))
    if isinstance(event, ProfileUpdated):
        state = _merge_profile(state, event, at_ms)
    state = _record_hits(state, event, at_ms, definition)
    outputs: list[OutputEvent] = []
    if state.stage is Stage.VISITOR and "email" in state.profile:
        state, change = _change_stage(state, Stage.LEAD, at_ms, event, "system", None)
        outputs.append(change)
    if state.stage in (Stage.LEAD, Stage.RECYCLED):
        state, crossed = _cross_mql(state, event, at_ms, definition)
        outputs.extend(crossed)
    return Decision(state, tuple(outputs))
