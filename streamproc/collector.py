"""Python's garbage collector paced for streaming: fewer young-generation collections.

The worker and a replay allocate millions of short-lived objects (events, states, outputs)
and make few reference cycles; what they keep long (the tables) is bytes, which the collector
does not track. At the default pace, a collection every 700 allocations, the collector cost
about a tenth of a replay (py-spy) and measurably slowed the worker (`make bench`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000
"""Allocations between two collections of the youngest generation."""
SETTLE_EVERY_EVENTS = 250_000
"""How often a replay process takes what it holds out of the collector's reach."""


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


def settle_long_lived() -> None:
    """Take every object alive now out of the collector's reach (`gc.freeze`), for a process
    that keeps millions of them to its end: a replay's lead states. Without it each full
    collection walks them all again. They are still freed when nothing refers to them (a
    state replaced by its next one); only reference cycles among them would stay."""
    gc.freeze()
