"""Fencing the ingest loop: it writes only for partitions its worker still holds.

The loop's consumer is not a member of any group (it assigns itself what Faust's consumer
got), so the broker cannot refuse what it publishes or commits: a worker frozen past its
session timeout (SIGSTOP, a long pause of the process or its VM) could, once it runs again,
publish and commit for partitions the group gave to another worker meanwhile. So before every
publish and every commit the loop asks the fence whether the membership it was granted its
partitions under still holds:

- the group is not rebalancing, and the generation is the one the partitions were granted in
  (read from Faust's consumer's coordinator, which resets it as soon as a heartbeat learns
  the member is gone; `app.consumer_generation_id` only changes at the next assignment);
- the partitions read are still assigned to the worker;
- the process has not stalled long enough for the group to move on without it: a stall of
  more than half the session timeout (the fence's own ticker sees it) holds the next check
  until Faust's consumer has had time to heartbeat, and then it checks again.

What it cannot close: the time between a check that passes and the broker taking the send or
commit. A process frozen inside that window still writes when it resumes (docs/internals.md
says what would close it). `Fence.window` measures it: from the check to the acknowledgement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

TICK_S = 0.1
"""How often the fence's ticker looks at the clock (a stall shows as a gap between ticks)."""


@dataclass(frozen=True)
class Membership:
    """What the worker's group membership says now."""

    generation: int
    partitions: frozenset[int]
    rebalancing: bool


class FencedError(Exception):
    """The worker no longer holds what the loop was about to write for."""


@dataclass
class _Window:
    """The time from passed checks to the acknowledgements of what they allowed."""

    checks: int = 0
    fenced: int = 0
    longest_s: float = 0.0


class Fence:
    """Checks the membership the loop's partitions were granted under (see the module)."""

    def __init__(
        self,
        membership: Callable[[], Membership],
        session_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._membership = membership
        self._stall_s = session_timeout_s / 2
        """A stall longer than this may have cost the membership (heartbeats are sent every
        tenth of the session timeout: the group waits a whole one)."""
        self._confirm_s = session_timeout_s / 2
        """How long after a stall the check waits for Faust's heartbeat to tell."""
        self._clock = clock
        self._granted: int | None = None
        self._last_tick = clock()
        self._stalled_until: float | None = None
        """Set after a stall: the check holds until then, then looks again."""
        self.window = _Window()

    def grant(self) -> int:
        """The loop reads the partitions of the current membership from now on; returns its
        generation."""
        self._granted = self._membership().generation
        return self._granted

    def tick(self) -> None:
        """Note that the process ran; a gap since the last tick is a stall."""
        now = self._clock()
        if now - self._last_tick > self._stall_s:
            self._stalled_until = now + self._confirm_s
        self._last_tick = now

    async def run_ticker(self) -> None:
        """Tick every TICK_S until cancelled."""
        while True:
            self.tick()
            await asyncio.sleep(TICK_S)

    def breach(self, partitions: frozenset[int], leaving: bool = False) -> str | None:
        """Why the worker may no longer write for `partitions`, or None if it may. `leaving`:
        the commit made when a rebalance starts, which the member may still make in its
        generation (it has not rejoined yet)."""
        now = self._membership()
        if self._granted is None:
            return "no partitions were granted to the loop"
        if now.generation != self._granted:
            return f"the group's generation is {now.generation}, not {self._granted}"
        if leaving:
            return None
        if now.rebalancing:
            return "the group is rebalancing"
        lost = partitions - now.partitions
        if lost:
            return f"partitions {sorted(lost)} are no longer assigned to this worker"
        return None

    async def check(self, partitions: frozenset[int], leaving: bool = False) -> float:
        """Raise FencedError if the worker may no longer write for `partitions` (`breach`);
        else return when the check passed (for `passed`)."""
        self.tick()
        stalled_until = self._stalled_until
        if stalled_until is not None:
            # Wait for the heartbeat to find out whether the group moved on, unless it
            # already says so.
            while self.breach(partitions, leaving) is None and self._clock() < stalled_until:
                await asyncio.sleep(TICK_S / 2)
            self._stalled_until = None
        self.window.checks += 1
        why = self.breach(partitions, leaving)
        if why is not None:
            self.window.fenced += 1
            raise FencedError(why)
        return self._clock()

    def passed(self, checked_at: float) -> None:
        """What a check allowed is acknowledged: the window it left open is measured."""
        self.window.longest_s = max(self.window.longest_s, self._clock() - checked_at)
