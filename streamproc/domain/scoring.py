"""Fit + intent scoring at a point in event time, with an explanation that adds up.

Times are integer milliseconds since the epoch (event time). A window of length W evaluated at
time T counts the events with T - W < occurred_at <= T: two events 6 days 23 hours apart count
together in a 7-day window, 7 days 1 hour apart do not.

Deciding whether a lead crosses scores it after nearly every behaviour event, and usually it
does not qualify; so the arithmetic works on plain numbers (`Tally`), and the published
explanation (`Evaluation`, made of `Score` and `Contribution` models) is built only when
someone reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from streamproc.domain.definition import Condition, Definition, SignalCondition
from streamproc.domain.events import Contribution, Score
from streamproc.domain.eventtime import MS_PER_SECOND as MS_PER_SECOND  # re-exported

Hit = tuple[int, str]
"""A matching event kept for a signal: (event time in ms since the epoch, event_id)."""
Attributes = Mapping[str, str | int | float]
Points = tuple[tuple[str, float], ...]
"""The rules that gave points, in definition order: (rule name, points granted)."""


@dataclass(frozen=True)
class Evaluation:
    """A lead's score at one instant, why, and whether it qualifies as MQL."""

    score: Score
    contributions: tuple[Contribution, ...]
    gates_met: tuple[str, ...]
    qualifies: bool


@dataclass(frozen=True)
class Tally:
    """A lead's score at one instant as plain numbers: what deciding needs, cheap to make."""

    fit: Points
    intent: Points
    counts: Mapping[str, int]
    """Per signal, how many kept hits fall inside its window."""
    totals: Mapping[str, float]
    """`fit`, `intent` and `total`, as a score condition names them."""
    qualifies: bool

    def holds(self, condition: Condition) -> bool:
        if isinstance(condition, SignalCondition):
            return self.counts[condition.signal] >= condition.at_least
        return float(self.totals[condition.score]) >= condition.at_least


def hits_in_window(hits: Sequence[Hit], window_ms: int, at_ms: int) -> list[Hit]:
    """The hits with at_ms - window_ms < time <= at_ms, oldest first."""
    return [hit for hit in hits if at_ms - window_ms < hit[0] <= at_ms]


def with_seniority(attributes: Attributes, definition: Definition) -> Attributes:
    """Derive `person.seniority` from `person.title` when the profile does not state it."""
    title = attributes.get("person.title")
    if "person.seniority" in attributes or not isinstance(title, str):
        return attributes
    for pattern, seniority in definition.fit.title_patterns:
        if pattern.search(title):
            return {**attributes, "person.seniority": seniority}
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


FITS_REMEMBERED = 100_000
"""Combinations of fit fields whose points are remembered per definition: leads share them."""


def fit_points(attributes: Attributes, definition: Definition) -> Points:
    """The fit rules these profile attributes pass, each granted within the fit maximum.

    Fit does not depend on time: a caller scoring one profile at several moments computes it
    once and passes it to `tally`. Deciding asks for it after nearly every signal hit, so the
    points of each combination of the fields fit reads are remembered.
    """
    fit = definition.fit
    key = tuple(attributes.get(name) for name in fit.fields)
    remembered = fit.points_of_fields
    points = remembered.get(key)
    if points is None:
        if len(remembered) >= FITS_REMEMBERED:
            remembered.clear()
        points = remembered[key] = _fit_points(attributes, definition)
    return points


def _fit_points(attributes: Attributes, definition: Definition) -> Points:
    attributes = with_seniority(attributes, definition)
    budget = _Budget(definition.fit.max_points)
    granted_by_rule = []
    for rule in definition.fit.rules:
        if not rule.passes(attributes.get(rule.field)):
            continue
        granted = round(budget.clamp(rule.points), 2)
        budget.take(granted)
        if granted:
            granted_by_rule.append((rule.name, granted))
    return tuple(granted_by_rule)


def can_qualify(fit: Points, definition: Definition, any_hits: bool = True) -> bool:
    """Whether a lead with this fit could qualify at any moment: whether the most intent a lead
    can have would lift its fit to the threshold. One that fits too poorly needs no scoring.
    Without a kept hit (`any_hits` false) a lead has no intent at all: every rule needs at
    least one event. That is every new lead's first profile.

    Each intent grant is clamped to what is left of the maximum and then rounded to cents, so
    intent may exceed its maximum by a cent at most; a margin of one point keeps this exact.
    """
    fit_total = round(sum(points for _, points in fit), 2)
    most_intent = definition.intent.max_points + 1 if any_hits else 0
    return fit_total + most_intent >= definition.threshold


def _decayed(points: float, half_life_ms: float | None, age_ms: int) -> float:
    if half_life_ms is None:
        return points * 1.0
    return points * float(0.5 ** (age_ms / half_life_ms))


def _counted(
    hits: Mapping[str, Sequence[Hit]], definition: Definition, at_ms: int
) -> dict[str, list[Hit]]:
    counted: dict[str, list[Hit]] = {}
    for name, signal in definition.intent.signals.items():
        kept = hits.get(name)
        counted[name] = hits_in_window(kept, signal.window_ms, at_ms) if kept else []
    return counted


def _intent(counted: Mapping[str, list[Hit]], definition: Definition, at_ms: int) -> Points:
    intent = definition.intent
    half_life_ms = intent.half_life_ms
    total = _Budget(intent.max_points)
    categories = {name: _Budget(cap) for name, cap in intent.caps.items()}
    granted_by_rule = []
    for rule in intent.rules:
        events = counted[rule.signal]
        if len(events) < rule.at_least:
            continue
        if rule.points is not None:
            raw = _decayed(rule.points, half_life_ms, at_ms - events[-1][0])
        else:
            each = rule.points_each or 0
            raw = sum(_decayed(each, half_life_ms, at_ms - t) for t, _ in events)
        budgets = [total, *([categories[rule.category]] if rule.category in categories else [])]
        allowed = raw
        for budget in budgets:
            allowed = budget.clamp(allowed)
        granted = round(allowed, 2)
        for budget in budgets:
            budget.take(granted)
        if granted:
            granted_by_rule.append((rule.name, granted))
    return tuple(granted_by_rule)


def tally(
    fit: Points, hits: Mapping[str, Sequence[Hit]], definition: Definition, at_ms: int
) -> Tally:
    """Score a lead whose fit is `fit` (see `fit_points`) at event time `at_ms`: the numbers of
    `score_lead`, without building its explanation."""
    counted = _counted(hits, definition, at_ms)
    intent = _intent(counted, definition, at_ms)
    fit_total = round(sum(points for _, points in fit), 2)
    intent_total = round(sum(points for _, points in intent), 2)
    scored = Tally(
        fit=fit,
        intent=intent,
        counts={name: len(events) for name, events in counted.items()},
        totals={
            "fit": fit_total,
            "intent": intent_total,
            "total": round(fit_total + intent_total, 2),
        },
        qualifies=False,
    )
    gates = definition.gates
    gates_hold = all(scored.holds(c) for c in gates.all_of) and (
        not gates.any_of or any(scored.holds(c) for c in gates.any_of)
    )
    if gates_hold and scored.totals["total"] >= definition.threshold:
        return replace(scored, qualifies=True)
    return scored


def explain(scored: Tally, definition: Definition) -> Evaluation:
    """The published form of a tally: the score, the contributions that add up to it, and
    the gate conditions met."""
    gates = definition.gates
    return Evaluation(
        score=Score(**scored.totals),
        contributions=(
            *(Contribution(rule=rule, points=points, kind="fit") for rule, points in scored.fit),
            *(
                Contribution(rule=rule, points=points, kind="intent")
                for rule, points in scored.intent
            ),
        ),
        gates_met=tuple(c.label for c in (*gates.all_of, *gates.any_of) if scored.holds(c)),
        qualifies=scored.qualifies,
    )


def score_lead(
    attributes: Attributes, hits: Mapping[str, Sequence[Hit]], definition: Definition, at_ms: int
) -> Evaluation:
    """Score a lead at event time `at_ms` against `definition`.

    Fit comes from the profile attributes, intent from the kept hits of each signal inside its
    window ending at `at_ms` (hits after `at_ms` do not count). Fit and intent are each capped
    at their `max_points`, intent also per category. Contributions add up to the score exactly.
    The lead qualifies when the total reaches the threshold and the gates hold.
    """
    return explain(tally(fit_points(attributes, definition), hits, definition, at_ms), definition)
