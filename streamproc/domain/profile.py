"""A lead's profile through event time: what each field held at any moment that may still count.

Topics are read independently, so a lead's visits can be read after a profile update that is
newer than them. The visits must be scored with the profile the lead had when they happened,
not with the newest one, or whether a lead crosses would depend on read order. So besides the
newest value of each field the state keeps, per field that changed, its *runs*: the values it
held, each from the event time it was first set. A run is forgotten once the next one began
before the allowed lateness horizon: no moment that old is scored any more.

A field whose value never changed (most of them) keeps no runs: it holds its value from
`profile_times`, the time its current value was first set.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

from streamproc.domain.state import LeadState, ProfileRuns, ProfileValue

RUNS_KEPT = 4
"""At most this many values per field are remembered, the newest: memory stays bounded."""

Run = tuple[int, ProfileValue]


def _runs(state: LeadState, name: str) -> list[Run]:
    stored = state.profile_runs.get(name)
    if stored:
        return list(stored)
    return [(state.profile_times.get(name, 0), state.profile[name])]


def _insert(runs: list[Run], at_ms: int, value: ProfileValue) -> list[Run]:
    """The runs after an update that set `value` at `at_ms`, read in any order.

    Repeating a value changes nothing, so a repeat is not remembered: one read later than a
    different, older value (a producer's late retry between two equal updates) is taken as
    newer. Remembering every repeat would cost memory for every enriched lead.
    """
    before = bisect.bisect_right(runs, at_ms, key=lambda run: run[0])
    if before and runs[before - 1][1] == value:  # it held this value already
        return runs
    merged = [*runs[:before], (at_ms, value), *runs[before:]]
    # A value set just before a run of the same value: one run, from the earlier start.
    return [run for i, run in enumerate(merged) if i == 0 or merged[i - 1][1] != run[1]]


def _forget(runs: list[Run], horizon_ms: int) -> list[Run]:
    """Drop the runs that ended at or before the horizon, keep the newest `RUNS_KEPT`."""
    first = 0
    while first + 1 < len(runs) and runs[first + 1][0] <= horizon_ms:
        first += 1
    return runs[first:][-RUNS_KEPT:]


def merge(
    state: LeadState, attributes: Mapping[str, ProfileValue], at_ms: int, horizon_ms: int
) -> dict[str, object]:
    """The state fields a profile update at `at_ms` changes: the newest value of each field
    wins; the values it replaces are kept while moments after `horizon_ms` may be scored."""
    profile, since = dict(state.profile), dict(state.profile_times)
    kept_runs: dict[str, ProfileRuns] = dict(state.profile_runs)
    for name, value in attributes.items():
        if name not in profile:
            profile[name], since[name] = value, at_ms
            continue
        if value == profile[name] and at_ms >= since[name]:
            continue  # a repeat, the common enrichment update
        runs = _forget(_insert(_runs(state, name), at_ms, value), horizon_ms)
        since[name], profile[name] = runs[-1]
        if len(runs) > 1:
            kept_runs[name] = tuple(runs)
        else:
            kept_runs.pop(name, None)
    update: dict[str, object] = {}
    if profile != state.profile:
        update["profile"] = profile
    if since != state.profile_times:
        update["profile_times"] = since
    if kept_runs != state.profile_runs:
        update["profile_runs"] = kept_runs
    return update


def changes_after(state: LeadState, moment_ms: int) -> set[int]:
    """The event times after `moment_ms` at which a field took a new value: empty for most
    leads, whose profile has not changed since any moment still scored."""
    times = state.profile_times
    if not times or max(times.values()) <= moment_ms:
        return set()
    return {start for name in state.profile for start, _ in _runs(state, name) if start > moment_ms}


def as_of(state: LeadState, moment_ms: int) -> dict[str, ProfileValue]:
    """The profile the lead had at `moment_ms`: each field's value set at or before it."""
    view = {}
    for name in state.profile:
        for start, value in reversed(_runs(state, name)):
            if start <= moment_ms:
                view[name] = value
                break
    return view
