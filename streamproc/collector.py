"""Python's garbage collector paced for streaming: fewer collections, or none in a replay.

The worker and a replay allocate millions of short-lived objects (events, states, outputs)
and make few reference cycles. What the worker keeps long (the tables) is bytes, which the
collector does not track; at the default pace, a collection every 700 allocations, the
collector measurably slowed it (`make bench`), so it collects less often. A replay keeps its
lead states as objects and makes no cycles at all, so it does not collect.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000
"""Allocations between two collections of the youngest generation."""


def collect_less_often() -> None:
    """For the rest of the process (the worker)."""
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


@contextmanager
def collecting_less_often() -> Iterator[None]:
    """For the duration of a `with` block (a replay); the old pace is restored after it."""
    before = gc.get_threshold()
    collect_less_often()
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def not_collecting() -> Iterator[None]:
    """No collection for the duration of a `with` block: a replay. Replaying makes no
    reference cycles (a test checks), so reference counting frees whatever it drops, and the
    collector would only walk the millions of lead states a replay keeps, again and again:
    about a tenth of a replay's CPU at a million events (gc.callbacks)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
