"""The ingest loop's fence: it lets the loop write only while the worker holds its partitions."""

from __future__ import annotations

import pytest

from streamproc.streaming.fence import Fence, FencedError, Membership


class Group:
    def __init__(self) -> None:
        self.now = Membership(generation=3, partitions=frozenset({0, 1}), rebalancing=False)
        self.clock = 100.0

    def membership(self) -> Membership:
        return self.now

    def time(self) -> float:
        return self.clock


def granted(group: Group) -> Fence:
    fence = Fence(group.membership, session_timeout_s=6, clock=group.time)
    fence.grant()
    return fence


async def test_a_held_membership_passes_and_the_window_is_measured() -> None:
    group = Group()
    fence = granted(group)
    checked = await fence.check(frozenset({0, 1}))
    group.clock += 0.25
    fence.passed(checked)
    assert fence.window.checks == 1 and fence.window.fenced == 0
    assert fence.window.longest_s == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("membership", "why"),
    [
        (Membership(4, frozenset({0, 1}), False), "generation is 4, not 3"),
        (Membership(-1, frozenset({0, 1}), False), "generation is -1"),
        (Membership(3, frozenset({0, 1}), True), "rebalancing"),
        (Membership(3, frozenset({0}), False), r"partitions \[1\] are no longer assigned"),
    ],
)
async def test_a_moved_group_fences(membership: Membership, why: str) -> None:
    group = Group()
    fence = granted(group)
    group.now = membership
    with pytest.raises(FencedError, match=why):
        await fence.check(frozenset({0, 1}))
    assert fence.window.fenced == 1


async def test_the_commit_made_when_a_rebalance_starts_needs_only_the_generation() -> None:
    group = Group()
    fence = granted(group)
    group.now = Membership(3, frozenset(), True)
    await fence.check(frozenset({0, 1}), leaving=True)
    group.now = Membership(-1, frozenset(), True)
    with pytest.raises(FencedError):
        await fence.check(frozenset({0, 1}), leaving=True)


async def test_after_a_stall_the_check_waits_for_the_heartbeat_to_tell() -> None:
    group = Group()
    fence = granted(group)
    fence.tick()
    group.clock += 10  # frozen past the session timeout
    checks = 0

    def heartbeat_learns_it() -> Membership:
        nonlocal checks
        checks += 1
        if checks >= 3:  # the heartbeat answered: this member is unknown now
            group.now = Membership(-1, frozenset({0, 1}), False)
        return group.now

    fence._membership = heartbeat_learns_it
    with pytest.raises(FencedError, match="generation is -1"):
        await fence.check(frozenset({0, 1}))


async def test_a_short_pause_does_not_hold_the_check() -> None:
    group = Group()
    fence = granted(group)
    fence.tick()
    group.clock += 2  # under half the session timeout
    await fence.check(frozenset({0, 1}))
