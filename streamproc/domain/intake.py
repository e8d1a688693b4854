"""Taking in behaviour and profile events: signal hits in bounded windows, profile merges."""

from __future__ import annotations

import bisect

from streamproc.domain.definition import Definition
from streamproc.domain.events import (
    ContentDownloaded,
    DemoBooked,
    InputEvent,
    PageVisited,
    ProfileUpdated,
    SalesActionTaken,
)
from streamproc.domain.scoring import MS_PER_SECOND
from streamproc.domain.state import LeadState


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


def is_duplicate(state: LeadState, event: InputEvent) -> bool:
    """Whether this event_id was applied already (profiles merge idempotently instead)."""
    if isinstance(event, SalesActionTaken):
        waiting = (parked.action.event_id for parked in state.parked)
        return event.event_id in state.action_ids or event.event_id in waiting
    return any(event_id == event.event_id for hits in state.hits.values() for _, event_id in hits)


def merge_profile(state: LeadState, event: ProfileUpdated, at_ms: int) -> LeadState:
    """Merge a partial profile: per field, the update with the newest event time wins."""
    profile, times = dict(state.profile), dict(state.profile_times)
    for name, value in event.attributes().items():
        if at_ms >= times.get(name, at_ms):
            profile[name], times[name] = value, at_ms
    return state.model_copy(update={"profile": profile, "profile_times": times})


def record_hits(
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
