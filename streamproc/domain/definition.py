"""The definition: the versioned agreement between marketing and sales, as data.

A definition says which profile fields give fit points, which behaviour gives intent points and
within which event-time window, the MQL threshold and gates, SLA durations per lane, routing
rules and the reason-code taxonomy. Loading it from YAML lives in `streamproc.definitions`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Literal, Self, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    WithJsonSchema,
    model_validator,
)

from streamproc.domain.events import Lane
from streamproc.domain.eventtime import MS_PER_SECOND

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> object:
    """Accept `90s`, `30m`, `24h`, `7d`, `2w` besides what pydantic takes (ISO 8601, seconds)."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _DURATION.pattern},
                {"type": "string", "format": "duration"},
                {"type": "number", "description": "seconds"},
            ],
            "description": "90s, 30m, 24h, 7d, 2w, an ISO 8601 duration or seconds",
        }
    ),
]
ProfileField = Literal[
    "email",
    "company.name",
    "company.domain",
    "company.employees",
    "company.industry",
    "company.annual_revenue",
    "company.country",
    "person.title",
    "person.seniority",
    "lane",
    "source",
]
InputKind = Literal["page-visits", "downloads", "demo-bookings"]
EVENTS_KEPT_MARGIN = 16
DEFAULT_REASON_CODES = (
    "wrong_icp",
    "low_intent",
    "no_budget",
    "no_authority",
    "no_need",
    "bad_timing",
    "competitor",
    "duplicate",
    "bad_data",
)


class PlacedError(ValueError):
    """A mistake found by a model validator, at `path` below the model that found it (say
    `("routing", 3, "queue")`), so that the message can name the field, not the model."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    """`unknown queue 'smbx'`, with the near known name or the known names."""
    names = sorted(known)
    near = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {near[0]!r}?" if near else f"{kind}s: {', '.join(names) or 'none'}"
    return f"unknown {kind} {name!r} ({hint})"


class Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldTest(Part):
    """A test on one profile field: a numeric range (inclusive) or a set of values."""

    between: tuple[float, float] | None = None
    in_: frozenset[str] | None = Field(None, alias="in", description="case-insensitive")

    @model_validator(mode="after")
    def _one_test(self) -> Self:
        if (self.between is None) == (self.in_ is None):
            raise ValueError("give exactly one of `between: [low, high]` or `in: [values]`")
        if self.between is not None and self.between[0] > self.between[1]:
            message = f"low {self.between[0]} is above high {self.between[1]}"
            raise PlacedError(("between",), message)
        return self

    def passes(self, value: str | int | float | None) -> bool:
        if value is None:
            return False
        if self.between is not None:
            low, high = self.between
            return isinstance(value, int | float) and low <= value <= high
        return str(value).lower() in self.lowered_values

    @cached_property
    def lowered_values(self) -> frozenset[str]:
        return frozenset(value.lower() for value in self.in_ or ())


class FitRule(FieldTest):
    """Points when a profile field passes the test."""

    name: str
    field: ProfileField
    points: float


class TitleSeniority(Part):
    """A job title pattern (regular expression, case-insensitive) and the seniority it means."""

    pattern: str
    seniority: str

    @model_validator(mode="after")
    def _compiles(self) -> Self:
        try:
            re.compile(self.pattern)
        except re.error as error:
            message = f"{self.pattern!r} is not a regular expression: {error}"
            raise PlacedError(("pattern",), message) from error
        return self


class Fit(Part):
    max_points: PositiveFloat = 50
    seniority_from_title: tuple[TitleSeniority, ...] = Field(
        (), description="Used when `person.seniority` is not set; first match wins."
    )
    rules: tuple[FitRule, ...]

    @cached_property
    def title_patterns(self) -> tuple[tuple[re.Pattern[str], str], ...]:
        """`seniority_from_title` compiled once: (pattern, seniority), first match wins."""
        return tuple(
            (re.compile(mapping.pattern, re.IGNORECASE), mapping.seniority)
            for mapping in self.seniority_from_title
        )

    @cached_property
    def fields(self) -> tuple[str, ...]:
        """The profile fields fit depends on: those of its rules, and the title that
        seniority may be derived from."""
        return tuple(dict.fromkeys((*(rule.field for rule in self.rules), "person.title")))

    @cached_property
    def points_of_fields(self) -> dict[tuple[object, ...], tuple[tuple[str, float], ...]]:
        """A memo of the fit points per combination of `fields` values, filled by `scoring`."""
        return {}


class Signal(Part):
    """Matching events counted in a sliding event-time window of `window`."""

    topic: InputKind
    window: Duration
    url_pattern: str | None = Field(None, description="regular expression searched in the URL")
    asset_id: frozenset[str] | None = None
    asset_type: frozenset[str] | None = None
    funnel_stage: frozenset[Literal["top", "middle", "bottom"]] | None = None

    @model_validator(mode="after")
    def _filters_fit_the_topic(self) -> Self:
        if self.window <= timedelta(0):
            raise PlacedError(("window",), "must be positive")
        download_filters = (self.asset_id, self.asset_type, self.funnel_stage)
        if self.topic != "downloads" and any(f is not None for f in download_filters):
            raise ValueError(
                "asset_id, asset_type and funnel_stage apply to `topic: downloads` only"
            )
        if self.url_pattern is not None:
            if self.topic != "page-visits":
                raise ValueError("url_pattern applies to `topic: page-visits` only")
            try:
                re.compile(self.url_pattern)
            except re.error as error:
                message = f"{self.url_pattern!r} is not a regular expression: {error}"
                raise PlacedError(("url_pattern",), message) from error
        return self

    @cached_property
    def url_regex(self) -> re.Pattern[str] | None:
        return None if self.url_pattern is None else re.compile(self.url_pattern, re.IGNORECASE)

    @cached_property
    def window_ms(self) -> int:
        return int(self.window.total_seconds() * MS_PER_SECOND)


class IntentRule(Part):
    """Points from a signal's count in its window: flat once `at_least` is reached, or each."""

    name: str
    signal: str
    at_least: PositiveInt = 1
    points: float | None = Field(None, description="flat, once the count reaches at_least")
    points_each: float | None = Field(None, description="per counted event")
    category: str | None = Field(None, description="caps apply per category")

    @model_validator(mode="after")
    def _one_kind_of_points(self) -> Self:
        if (self.points is None) == (self.points_each is None):
            raise ValueError("give exactly one of `points` or `points_each`")
        return self


class Intent(Part):
    max_points: PositiveFloat = 50
    half_life: Duration | None = Field(None, description="decay of intent points in event time")
    caps: dict[str, PositiveFloat] = Field({}, description="maximum points per category")
    signals: dict[str, Signal]
    rules: tuple[IntentRule, ...]

    @model_validator(mode="after")
    def _signals_exist(self) -> Self:
        for index, rule in enumerate(self.rules):
            if rule.signal not in self.signals:
                raise PlacedError(
                    ("rules", index, "signal"), _unknown("signal", rule.signal, self.signals)
                )
        return self

    @cached_property
    def half_life_ms(self) -> float | None:
        return None if self.half_life is None else self.half_life.total_seconds() * MS_PER_SECOND

    @cached_property
    def signals_of_page(self) -> dict[str, tuple[str, ...]]:
        """A memo of the page-visit signals each URL matches, filled by `intake`."""
        return {}

    @cached_property
    def signals_of_topic(self) -> dict[InputKind, tuple[tuple[str, Signal], ...]]:
        """The signals per input topic, in definition order: an event is matched only
        against the signals of its own topic."""
        return {
            topic: tuple(
                (name, signal) for name, signal in self.signals.items() if signal.topic == topic
            )
            for topic in get_args(InputKind)
        }


class SignalCondition(Part):
    signal: str
    at_least: PositiveInt = 1

    @cached_property
    def label(self) -> str:
        return f"{self.signal}>={self.at_least}"


class ScoreCondition(Part):
    score: Literal["fit", "intent", "total"]
    at_least: float

    @cached_property
    def label(self) -> str:
        return f"{self.score}>={self.at_least:g}"


Condition = SignalCondition | ScoreCondition


class Gates(Part):
    """MQL also needs every `all_of` condition and, when listed, one of `any_of`."""

    all_of: tuple[Condition, ...] = ()
    any_of: tuple[Condition, ...] = ()


class SlaDurations(Part):
    mql_review: Duration = timedelta(hours=24)
    sql_first_touch: Duration = timedelta(hours=24)


class Rep(Part):
    id: str
    available: bool = True


class Queue(Part):
    reps: tuple[Rep, ...] = ()


class RoutingRule(Part):
    """First match wins; a rule without `when` matches every lead and must come last."""

    rule: str
    queue: str
    when: dict[ProfileField, FieldTest] = {}


class Retention(Part):
    """How long a lead's state lives without activity, in event time (see `retention.py`)."""

    visitors: Duration = Field(
        timedelta(days=30), description="a visitor (no email yet) expires after this"
    )
    leads: Duration = Field(
        timedelta(days=400), description="an identified lead expires after this"
    )
    expire_owing_sla: bool = Field(
        False, description="expire a lead even while an SLA reaction is owed for it"
    )
    expire_past_sql: bool = Field(
        False, description="expire a lead even in stage sql, opportunity or customer"
    )

    @model_validator(mode="after")
    def _positive(self) -> Self:
        for name in ("visitors", "leads"):
            if getattr(self, name) <= timedelta(0):
                raise PlacedError((name,), "must be positive")
        return self

    @cached_property
    def visitors_ms(self) -> int:
        return int(self.visitors.total_seconds() * MS_PER_SECOND)

    @cached_property
    def leads_ms(self) -> int:
        return int(self.leads.total_seconds() * MS_PER_SECOND)


def _default_sla() -> dict[Lane, SlaDurations]:
    return {"inbound": SlaDurations(), "outbound": SlaDurations(mql_review=timedelta(hours=48))}


class Definition(Part):
    """A complete, validated definition."""

    name: str
    version: str
    description: str = ""
    threshold: float
    fit: Fit
    intent: Intent
    gates: Gates = Gates()
    sla: dict[Lane, SlaDurations] = Field(default_factory=_default_sla)
    queues: dict[str, Queue] = {"general": Queue()}
    routing: tuple[RoutingRule, ...] = (RoutingRule(rule="default", queue="general"),)
    reason_codes: tuple[str, ...] = DEFAULT_REASON_CODES
    retention: Retention = Retention()
    qualification_required: dict[str, frozenset[str]] = Field(
        {},
        description="answers a `qualify` action must carry to make an SQL, e.g. "
        "budget: [confirmed]; compared case-insensitively",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        signals = self.intent.signals
        most = self.most_points
        if self.threshold < 0:
            raise PlacedError(("threshold",), f"{self.threshold:g} is below zero")
        if self.threshold > most["total"]:
            raise PlacedError(("threshold",), f"{self.threshold:g} {self._most_text('total')}")
        for kind in ("all_of", "any_of"):
            for index, condition in enumerate(getattr(self.gates, kind)):
                at = ("gates", kind, index)
                if isinstance(condition, SignalCondition) and condition.signal not in signals:
                    raise PlacedError(
                        (*at, "signal"), _unknown("signal", condition.signal, signals)
                    )
                if (
                    isinstance(condition, ScoreCondition)
                    and condition.at_least > most[condition.score]
                ):
                    message = f"{condition.label} {self._most_text(condition.score)}"
                    raise PlacedError((*at, "at_least"), message)
        for index, routing_rule in enumerate(self.routing):
            if routing_rule.queue not in self.queues:
                message = _unknown("queue", routing_rule.queue, self.queues)
                raise PlacedError(("routing", index, "queue"), message)
        if not self.routing or self.routing[-1].when:
            raise PlacedError(
                ("routing", len(self.routing) - 1) if self.routing else ("routing",),
                "the last routing rule must have no `when`: it is the default queue",
            )
        for index, rule in enumerate(self.routing[:-1]):
            if not rule.when:
                raise PlacedError(
                    ("routing", index), "only the last routing rule may have no `when`"
                )
        return self

    @cached_property
    def most_points(self) -> dict[str, float]:
        """The most points the rules can give, for `fit`, `intent` and `total`: each rule's
        points once (a `points_each` rule without end), within the category caps and the
        maxima. An upper bound: two fit rules may exclude each other."""
        fit = min(self.fit.max_points, sum(max(rule.points, 0) for rule in self.fit.rules))
        by_category: dict[str | None, float] = {}
        for rule in self.intent.rules:
            if rule.points is not None:
                most = max(rule.points, 0)
            else:
                most = math.inf if (rule.points_each or 0) > 0 else 0
            category = rule.category if rule.category in self.intent.caps else None
            by_category[category] = by_category.get(category, 0) + most
        intent = sum(
            min(points, self.intent.caps[category]) if category is not None else points
            for category, points in by_category.items()
        )
        intent = min(self.intent.max_points, intent)
        return {"fit": fit, "intent": intent, "total": fit + intent}

    def _most_text(self, score: str) -> str:
        most = self.most_points
        parts = f" (fit {most['fit']:g} + intent {most['intent']:g})" if score == "total" else ""
        rules = "the rules" if score == "total" else f"the {score} rules"
        return f"cannot be reached: {rules} give at most {most[score]:g} points{parts}"

    @property
    def label(self) -> str:
        """`name@version`, as written into every event this definition produced."""
        return f"{self.name}@{self.version}"

    @cached_property
    def longest_window(self) -> timedelta:
        return max((signal.window for signal in self.intent.signals.values()), default=timedelta(0))

    @cached_property
    def hits_kept_ms(self) -> int:
        """How long a hit is kept after the lead's newest event: two of the longest windows,
        one for it to count in and one of allowed lateness (see `intake.take_in`)."""
        return 2 * int(self.longest_window.total_seconds() * MS_PER_SECOND)

    @cached_property
    def events_kept(self) -> dict[str, int]:
        """How many of a signal's newest events a lead keeps: its memory bound per signal.

        A flat rule needs `at_least` events; a rule with `points_each` stops paying once its
        category cap or the intent maximum is reached. On top of what the rules need, a margin
        of EVENTS_KEPT_MARGIN lets an event that arrives late still pair with older ones
        instead of being crowded out by newer ones. Only a lead with more matching events than
        that inside one window (a bot, say) has its count saturate.
        """
        kept = dict.fromkeys(self.intent.signals, 1)
        for rule in self.intent.rules:
            needed = rule.at_least
            if rule.points_each:
                category_cap = self.intent.caps.get(rule.category or "", math.inf)
                cap = min(category_cap, self.intent.max_points)
                needed = max(needed, math.ceil(cap / abs(rule.points_each)))
            kept[rule.signal] = max(kept[rule.signal], needed)
        for condition in (*self.gates.all_of, *self.gates.any_of):
            if isinstance(condition, SignalCondition):
                kept[condition.signal] = max(kept[condition.signal], condition.at_least)
        return {name: needed + EVENTS_KEPT_MARGIN for name, needed in kept.items()}
