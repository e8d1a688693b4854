"""Routing: the definition's rules pick a sales queue, and reps in it take turns."""

from __future__ import annotations

from collections.abc import Mapping

from streamproc.domain.definition import Definition, RoutingRule
from streamproc.domain.state import Rotation


def pick_rule(profile: Mapping[str, str | int | float], definition: Definition) -> RoutingRule:
    """The first routing rule whose every `when` test passes; the last rule matches all."""
    for rule in definition.routing:
        if all(test.passes(profile.get(field)) for field, test in rule.when.items()):
            return rule
    return definition.routing[-1]


def assign_rep(
    queue: str, definition: Definition, rotation: Rotation
) -> tuple[str | None, Rotation]:
    """The next available rep of `queue` in round-robin order, and the rotation after it.

    Reps marked unavailable are skipped; a queue with no available rep assigns nobody (the
    lead waits in the queue) and does not move the rotation.
    """
    available = [rep.id for rep in definition.queues[queue].reps if rep.available]
    if not available:
        return None, rotation
    position = rotation.next_rep.get(queue, 0) % len(available)
    turned = Rotation(next_rep={**rotation.next_rep, queue: position + 1})
    return available[position], turned
