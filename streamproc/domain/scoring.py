"""Fit + intent scoring at a point in event time, with an explanation that adds up.

Times are integer milliseconds since the epoch (event time). A window of length W evaluated at
time T counts the events with T - W < occurred_at <= T: two events 6 days 23 hours apart count
together in a 7-day window, 7 days 1 hour apart do not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamproc.domain.definition import Definition, ScoreCondition, SignalCondition
from streamproc.domain.events import Contribution, Score

Hit = tuple[int, str]
"""A matching event kept for a signal: (event time in ms since the epoch, event_id)."""
Attributes = Mapping[str, str | int | float]
MS_PER_SECOND = 1000


@dataclass(frozen=True)
class Evaluation:
    """A lead's score at one instant, why, and whether it qualifies as MQL."""

    score: Score
    contributions: tuple[Contribution, ...]
    gates_met: tuple[str, ...]
    qualifies: bool


def hits_in_window(hits: Sequence[Hit], window_ms: int, at_ms: int) -> list[Hit]:
    """The hits with at_ms - window_ms < time <= at_ms, oldest first."""
    return [hit for hit in hits if at_ms - window_ms < hit[0] <= at_ms]


def with_seniority(attributes: Attributes, definition: Definition) -> Attributes:
    """Derive `person.seniority` from `person.title` when the profile does not state it."""
    title = attributes.get("person.title")
    if "person.seniority" in attributes or not isinstance(title, str):
        return attributes
    for mapping in definition.fit.seniority_from_title:
        if re.search(mapping.pattern, title, re.IGNORECASE):
            return {**attributes, "person.seniority": mapping.seniority}
    return attributes


class _Budget:
    """A running total of points kept within [0, maximum]."""

    def __init__(self, maximum: float) -> None:
        self.maximum = maximum
        self.total = 0.0

    def clamp(self, points: float) -> float:
        return min(max(points, -self.total), self.maximum - self.total)

    def take(self, points: float) -> None:
        self.total += points


def _fit(attributes: Attributes, definition: Definition) -> list[Contribution]:
    budget = _Budget(definition.fit.max_points)
    contributions = []
    for rule in definition.fit.rules:
        if not rule.passes(attributes.get(rule.field)):
            continue
        granted = round(budget.clamp(rule.points), 2)
        budget.take(granted)
        if granted:
            contributions.append(Contribution(rule=rule.name, points=granted, kind="fit"))
    return contributions


def _decay(definition: Definition, age_ms: int) -> float:
    half_life = definition.intent.half_life
    if half_life is None:
        return 1.0
    return float(0.5 ** (age_ms / (half_life.total_seconds() * MS_PER_SECOND)))


def _counted(
    hits: Mapping[str, Sequence[Hit]], definition: Definition, at_ms: int
) -> dict[str, list[Hit]]:
    return {
        name: hits_in_window(
            hits.get(name, ()),
            int(signal.window.total_seconds() * MS_PER_SECOND),
            at_ms,
        )
        for name, signal in definition.intent.signals.items()
    }


def _intent(
    counted: Mapping[str, list[Hit]], definition: Definition, at_ms: int
) -> list[Contribution]:
    total = _Budget(definition.intent.max_points)
    categories = {name: _Budget(cap) for name, cap in definition.intent.caps.items()}
    contributions = []
    for rule in definition.intent.rules:
        events = counted[rule.signal]
        if len(events) < rule.at_least:
            continue
        if rule.points is not None:
            raw = rule.points * _decay(definition, at_ms - events[-1][0])
        else:
            raw = sum((rule.points_each or 0) * _decay(definition, at_ms - t) for t, _ in events)
        budgets = [total, *([categories[rule.category]] if rule.category in categories else [])]
        allowed = raw
        for budget in budgets:
            allowed = budget.clamp(allowed)
        granted = round(allowed, 2)
        for budget in budgets:
            budget.take(granted)
        if granted:
            contributions.append(Contribution(rule=rule.name, points=granted, kind="intent"))
    return contributions


def score_lead(
    attributes: Attributes, hits: Mapping[str, Sequence[Hit]], definition: Definition, at_ms: int
) -> Evaluation:
    """Score a lead at event time `at_ms` against `definition`.

    Fit comes from the profile attributes, intent from the kept hits of each signal inside its
    window ending at `at_ms` (hits after `at_ms` do not count). Fit and intent are each capped
    at their `max_points`, intent also per category. Contributions add up to the score exactly.
    The lead qualifies when the total reaches the threshold and the gates hold.
    """
    fit = _fit(with_seniority(attributes, definition), definition)
    counted = _counted(hits, definition, at_ms)
    intent = _intent(counted, definition, at_ms)
    fit_total = round(sum(c.points for c in fit), 2)
    intent_total = round(sum(c.points for c in intent), 2)
    score = Score(fit=fit_total, intent=intent_total, total=round(fit_total + intent_total, 2))

    def holds(condition: SignalCondition | ScoreCondition) -> bool:
        if isinstance(condition, SignalCondition):
            return len(counted[condition.signal]) >= condition.at_least
        return float(getattr(score, condition.score)) >= condition.at_least

    gates = definition.gates
    met = tuple(c.label for c in (*gates.all_of, *gates.any_of) if holds(c))
    gates_hold = all(holds(c) for c in gates.all_of) and (
        not gates.any_of or any(holds(c) for c in gates.any_of)
    )
    return Evaluation(
        score=score,
        contributions=(*fit, *intent),
        gates_met=met,
        qualifies=gates_hold and score.total >= definition.threshold,
    )
