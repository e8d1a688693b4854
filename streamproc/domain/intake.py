"""Taking in behaviour and profile events: signal hits in bounded windows, profile merges."""

from __future__ import annotations

import bisect

from streamproc.domain import profile
from streamproc.domain.definition import Definition
from streamproc.domain.events import (
    ContentDownloaded,
    DemoBooked,
    InputEvent,
    PageVisited,
    ProfileUpdated,
    SalesActionTaken,
)
from streamproc.domain.scoring import Hit
from streamproc.domain.state import LeadState


def _time(hit: Hit) -> int:
    return hit[0]


PAGES_REMEMBERED = 50_000
"""URLs whose matching signals are remembered per definition: a site's pages repeat."""


def matching_signals(event: InputEvent, definition: Definition) -> tuple[str, ...]:
    """The names of the definition's signals that this event counts towards."""
    signals = definition.intent.signals_of_topic
    if isinstance(event, PageVisited):
        remembered = definition.intent.signals_of_page
        names = remembered.get(event.url)
        if names is None:
            if len(remembered) >= PAGES_REMEMBERED:
                remembered.clear()
            names = remembered[event.url] = tuple(
                name
                for name, signal in signals["page-visits"]
                if signal.url_regex is None or signal.url_regex.search(event.url) is not None
            )
        return names
    if isinstance(event, ContentDownloaded):
        return tuple(
            name
            for name, signal in signals["downloads"]
            if (signal.asset_id is None or event.asset_id in signal.asset_id)
            and (signal.asset_type is None or (event.asset_type or "") in signal.asset_type)
            and (signal.funnel_stage is None or event.funnel_stage in signal.funnel_stage)
        )
    if isinstance(event, DemoBooked):
        return tuple(name for name, _ in signals["demo-bookings"])
    return ()


def is_duplicate(state: LeadState, event: InputEvent, signals: tuple[str, ...]) -> bool:
    """Whether this event_id was applied already.

    Only events that changed something need remembering: sales actions, and behaviour that
    counts towards a signal (`signals`, the ones it matches). Profiles merge idempotently, and
    behaviour that matches no signal changes nothing twice.
    """
    if isinstance(event, SalesActionTaken):
        waiting = (parked.action.event_id for parked in state.parked)
        return event.event_id in state.action_ids or event.event_id in waiting
    for name in signals:
        for _, kept_id in state.hits.get(name, ()):
            if kept_id == event.event_id:
                return True
    return False


def take_in(
    state: LeadState,
    event: InputEvent,
    signals: tuple[str, ...],
    at_ms: int,
    definition: Definition,
) -> tuple[LeadState, bool]:
    """Record a behaviour or profile event; the new state and whether the score may have risen.

    Profiles merge field by field, the update with the newest event time winning each field;
    what it replaced is kept while behaviour that old may still be read (`profile.merge`).
    A behaviour event is added to each signal it matches (`signals`). A hit is kept while it
    is among the signal's `events_kept` newest and younger than two of the longest windows:
    one window for it to count in, one of allowed lateness, so that an event arriving up to a
    window late is still scored at its own event time. Without a new hit or a changed profile
    a score can only fall (windows move on, points decay), so nothing needs scoring.
    """
    clock = max(at_ms, state.clock_ms or at_ms)
    horizon = clock - definition.hits_kept_ms
    update: dict[str, object] = {}
    if isinstance(event, ProfileUpdated):
        update.update(profile.merge(state, event.attributes(), at_ms, horizon))
    if clock != state.clock_ms:
        update["clock_ms"] = clock
    if signals and at_ms > horizon:
        hits = dict(state.hits)
        for name in signals:
            kept = list(hits.get(name, ()))
            bisect.insort(kept, (at_ms, event.event_id))
            newest = kept[-definition.events_kept[name] :]
            # Hits are in time order, so those at or before the horizon lead the list.
            young = bisect.bisect_right(newest, horizon, key=_time)
            hits[name] = tuple(newest[young:])
        update["hits"] = hits
    if not update:
        return state, False
    may_rise = "hits" in update or "profile" in update or "profile_runs" in update
    return state.evolve(**update), may_rise
