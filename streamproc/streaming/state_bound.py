"""A lead's stored state stays under a size in bytes, whatever its producers send.

The domain bounds what a lead keeps in counts (hits per signal, profile runs, action ids,
parked actions) and the event models bound every string; together that is still more than a
state should weigh (a few parked actions, each with its answers and raw value). So a state
whose JSON passes the limit sheds what matters least first, oldest first, until it fits:

1. signal hits, the oldest of all signals (they count less and less, then not at all);
2. profile runs, the values fields held before their current one, the field whose history
   began earliest first (only late events are scored with them);
3. parked sales actions, the earliest to arrive first: each goes to dead-letters;
4. remembered sales-action ids, the oldest first (a repeat of that action would apply again).

What is left (ids, stage, the newest profile, owed SLA clocks) is bounded by the event
models' limits to well under MIN_STATE_BYTES, the least the limit may be set to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from streamproc.domain.state import LeadState, ParkedAction
from streamproc.streaming.codec import encode

MAX_STATE_BYTES = 65_536
"""Default of `STREAMPROC_MAX_STATE_BYTES`. A busy lead's state is 1-4 KB."""
MIN_STATE_BYTES = 32_768
"""The least `STREAMPROC_MAX_STATE_BYTES` may be: a state with nothing left to shed fits in
it (`tests/unit/test_state_bound.py` builds the largest such state)."""


Item = TypeVar("Item")


class StateBoundError(Exception):
    """A state that shed all it could and is still over its limit: a bug, not an input."""


@dataclass
class Bounded:
    """A state made to fit: its JSON, and what it shed to fit."""

    state: LeadState
    value: bytes
    shed: Counter[str] = field(default_factory=Counter)
    parked: list[ParkedAction] = field(default_factory=list)
    """The parked actions shed: each is refused to dead-letters."""


def bounded(state: LeadState, limit: int) -> Bounded:
    """`state` and its JSON, shedding (see the module) until the JSON is at most `limit`
    bytes. Costs one `encode` when it fits, as nearly every state does."""
    fitted = Bounded(state, encode(state))
    for part in PARTS:
        while len(fitted.value) > limit and _shed(fitted, part, len(fitted.value) - limit):
            fitted.value = encode(fitted.state)
    if len(fitted.value) > limit:
        raise StateBoundError(
            f"the state of a lead is {len(fitted.value):,} bytes with nothing left to shed, "
            f"over its limit of {limit:,} (STREAMPROC_MAX_STATE_BYTES)"
        )
    return fitted


def _shed(fitted: Bounded, part: str, excess: int) -> bool:
    """Drop the oldest items of `part` whose size adds up to about `excess` bytes (at least
    one); False when `part` has none left."""
    shed = _SHEDDERS[part](fitted, excess)
    fitted.shed[part] += shed
    return shed > 0


def _shed_hits(fitted: Bounded, excess: int) -> int:
    state = fitted.state
    hits = sorted((hit, name) for name, kept in state.hits.items() for hit in kept)
    gone = set(_oldest(hits, excess, lambda item: len(item[0][1].encode()) + 24))
    left = {
        name: tuple(hit for hit in kept if (hit, name) not in gone)
        for name, kept in state.hits.items()
    }
    fitted.state = state.evolve(hits={name: kept for name, kept in left.items() if kept})
    return len(gone)


def _shed_profile_runs(fitted: Bounded, excess: int) -> int:
    runs = fitted.state.profile_runs
    fields = sorted(runs, key=lambda name: runs[name][0][0])
    gone = set(_oldest(fields, excess, lambda name: len(str(runs[name]).encode())))
    left = {name: kept for name, kept in runs.items() if name not in gone}
    fitted.state = fitted.state.evolve(profile_runs=left)
    return len(gone)


def _shed_parked(fitted: Bounded, excess: int) -> int:
    parked = fitted.state.parked
    earliest = sorted(parked, key=lambda waiting: waiting.expires_ms)
    dropped = _oldest(earliest, excess, lambda waiting: len(encode(waiting)))
    gone = {id(waiting) for waiting in dropped}
    left = tuple(waiting for waiting in parked if id(waiting) not in gone)
    fitted.state = fitted.state.evolve(parked=left)
    fitted.parked.extend(dropped)
    return len(dropped)


def _shed_action_ids(fitted: Bounded, excess: int) -> int:
    ids = fitted.state.action_ids  # oldest first
    gone = len(_oldest(ids, excess, lambda event_id: len(event_id.encode()) + 3))
    fitted.state = fitted.state.evolve(action_ids=ids[gone:])
    return gone


_SHEDDERS: dict[str, Callable[[Bounded, int], int]] = {
    "hits": _shed_hits,
    "profile_runs": _shed_profile_runs,
    "parked": _shed_parked,
    "action_ids": _shed_action_ids,
}
PARTS = tuple(_SHEDDERS)
"""What a state sheds to fit, in this order: the label of `streamproc_state_shed_total`."""


def _oldest(items: Sequence[Item], excess: int, size: Callable[[Item], int]) -> list[Item]:
    """The first of `items` (oldest first) whose sizes add up to `excess` (at least one)."""
    dropped: list[Item] = []
    freed = 0
    for item in items:
        if dropped and freed >= excess:
            break
        dropped.append(item)
        freed += size(item)
    return dropped
