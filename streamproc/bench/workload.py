"""A fast synthetic workload: valid input events as encoded JSON bytes, keyed by lead id.

Not `streamproc.simulation` (it replays the domain per lead, too slow for millions): each event
is drawn independently. Topics follow `TOPIC_MIX`; leads follow a Zipf law over ranks for
`hot_share` of the events (a hot head) and are uniform otherwise (a long tail that reaches
nearly every lead); event times increase over `span_ms` up to `end_ms`, with a small jitter.
The first profile update of a lead carries its email (it becomes a lead); later ones change a
field or two. The same spec gives the same bytes.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

import orjson

from streamproc.domain import lifecycle

Message = tuple[str, bytes, bytes]
"""(topic without prefix, key, value)."""

TOPIC_MIX: tuple[tuple[str, float], ...] = (
    ("page-visits", 0.80),
    ("lead-profiles", 0.10),
    ("downloads", 0.05),
    ("demo-bookings", 0.03),
    ("sales-actions", 0.02),
)
SITE = "https://www.example.com"
PAGES: tuple[tuple[str, float], ...] = (
    ("/", 0.18),
    ("/blog/post-{n}", 0.42),
    ("/pricing", 0.08),
    ("/product", 0.10),
    ("/features/{n}", 0.07),
    ("/integrations", 0.05),
    ("/docs/page-{n}", 0.10),
)
ASSETS = (
    ("roi-calculator", "roi-calculator", "bottom"),
    ("pricing-guide", "whitepaper", "bottom"),
    ("state-of-saas", "whitepaper", "top"),
    ("acme-case-study", "case-study", "middle"),
    ("getting-started", "ebook", "top"),
)
ACTIONS: tuple[tuple[str, float], ...] = (
    ("accept", 0.30),
    ("contacted", 0.25),
    ("qualify", 0.15),
    ("reject", 0.08),
    ("open_opportunity", 0.08),
    ("disqualify", 0.05),
    ("close_won", 0.05),
    ("close_lost", 0.04),
)
REASONS = ("wrong_icp", "low_intent", "no_budget", "bad_timing", "competitor")
REPS = ("rep-ava", "rep-ben", "rep-chloe", "rep-fay", "rep-gus", "rep-hana")
INDUSTRIES = ("saas", "software", "fintech", "retail", "manufacturing", "healthcare")
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "BR", "IN", "NL", "JP")
TITLES = ("VP Marketing", "Head of Growth", "CTO", "Marketing Manager", "Engineer", "Analyst")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class WorkloadSpec:
    events: int = 200_000
    leads: int = 10_000
    seed: int = 7
    end_ms: int = 1_767_225_600_000  # the newest event time; the runner passes "now"
    span_ms: int = 6 * 3_600_000
    jitter_ms: int = 2_000
    zipf_exponent: float = 1.0
    hot_share: float = 0.7
    profiled: bool = False
    """Whether every lead has had its first profile (the one with the email) already: the
    workload goes on from an earlier one over the same leads, and profile events update."""

    def __post_init__(self) -> None:
        if self.events < 0 or self.leads < 1 or not 0.0 <= self.hot_share <= 1.0:
            raise ValueError("need events >= 0, leads >= 1 and 0 <= hot_share <= 1")


@dataclass(frozen=True)
class Workload:
    messages: list[Message]
    per_topic: dict[str, int]
    distinct_leads: int
    hottest_percent_share: float
    """Share of the events that belong to the hottest 1% of leads."""


def iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds")


def lead_name(index: int) -> str:
    return f"lead-{index:07d}"


def _pick(rng: random.Random, cumulative: list[float], items: tuple[Any, ...]) -> Any:
    return items[bisect_left(cumulative, rng.random() * cumulative[-1])]


def _cumulative(weighted: tuple[tuple[Any, float], ...]) -> tuple[list[float], tuple[Any, ...]]:
    return list(accumulate(weight for _, weight in weighted)), tuple(v for v, _ in weighted)


_PAGE_CUM, _PAGE_PATHS = _cumulative(PAGES)
_ACTION_CUM, _ACTION_NAMES = _cumulative(ACTIONS)


def profile_fields(rng: random.Random, lead_id: str) -> dict[str, Any]:
    """A first profile: an email (visitor -> lead) and the fit attributes."""
    domain = f"{lead_id}.example.org"
    return {
        "email": f"person@{domain}",
        "company": {
            "name": f"Company {lead_id}",
            "domain": domain,
            "employees": rng.choice((12, 80, 250, 900, 4000)),
            "industry": rng.choice(INDUSTRIES),
            "country": rng.choice(COUNTRIES),
            "annual_revenue": float(rng.choice((1e6, 8e6, 5e7))),
        },
        "person": {"title": rng.choice(TITLES)},
        "lane": "outbound" if rng.random() < 0.1 else "inbound",
        "source": "web",
    }


def _page(rng: random.Random, at_ms: int, lead_id: str) -> dict[str, Any]:
    path = _pick(rng, _PAGE_CUM, _PAGE_PATHS).replace("{n}", str(rng.randrange(50)))
    fields: dict[str, Any] = {"url": SITE + path}
    if rng.random() < 0.2:
        fields.update(utm_source="newsletter", utm_medium="email", utm_campaign="spring")
    return fields


def _profile(rng: random.Random, at_ms: int, lead_id: str) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"person": {"title": rng.choice(TITLES)}}
    return {"company": {"employees": rng.choice((80, 250, 900, 4000))}}


def _download(rng: random.Random, at_ms: int, lead_id: str) -> dict[str, Any]:
    asset_id, asset_type, stage = rng.choice(ASSETS)
    return {"asset_id": asset_id, "asset_type": asset_type, "funnel_stage": stage}


def _demo(rng: random.Random, at_ms: int, lead_id: str) -> dict[str, Any]:
    return {"scheduled_for": iso(at_ms + 2 * DAY_MS), "channel": "website"}


def _action(rng: random.Random, at_ms: int, lead_id: str) -> dict[str, Any]:
    action = _pick(rng, _ACTION_CUM, _ACTION_NAMES)
    fields: dict[str, Any] = {"action": action, "rep_id": rng.choice(REPS)}
    if action in lifecycle.NEEDS_REASON:
        fields["reason_code"] = rng.choice(REASONS)
    if action == "qualify":
        fields["qualification"] = {"budget": "confirmed"}
    if action == "close_won":
        fields["amount"] = 12_000.0
    return fields


_FIELDS: dict[str, Callable[[random.Random, int, str], dict[str, Any]]] = {
    "page-visits": _page,
    "lead-profiles": _profile,
    "downloads": _download,
    "demo-bookings": _demo,
    "sales-actions": _action,
}


def encode_event(event_id: str, lead_id: str, at_ms: int, fields: dict[str, Any]) -> bytes:
    """The event as JSON, in a right-sized copy: orjson 3.12+ returns bytes whose allocation
    is rounded up (4 KB for a 160-byte event), which a million kept events would multiply."""
    event = {"event_id": event_id, "lead_id": lead_id, "occurred_at": iso(at_ms), **fields}
    return bytes(memoryview(orjson.dumps(event)))


def generate(spec: WorkloadSpec) -> Workload:
    """The whole workload in memory (about 300 bytes an event)."""
    rng = random.Random(spec.seed)
    zipf = list(accumulate(rank**-spec.zipf_exponent for rank in range(1, spec.leads + 1)))
    topic_cum, topics = _cumulative(TOPIC_MIX)
    start = spec.end_ms - spec.span_ms
    step = spec.span_ms / max(1, spec.events)
    emailed: set[int] = set(range(spec.leads)) if spec.profiled else set()
    per_lead = [0] * spec.leads
    per_topic = dict.fromkeys(topics, 0)
    messages: list[Message] = []
    for i in range(spec.events):
        if rng.random() < spec.hot_share:
            lead = bisect_left(zipf, rng.random() * zipf[-1])
        else:
            lead = rng.randrange(spec.leads)
        topic = topics[bisect_left(topic_cum, rng.random() * topic_cum[-1])]
        at = min(spec.end_ms, start + int(i * step) + rng.randint(-spec.jitter_ms, spec.jitter_ms))
        lead_id = lead_name(lead)
        if topic == "lead-profiles" and lead not in emailed:
            emailed.add(lead)
            fields = profile_fields(rng, lead_id)
        else:
            fields = _FIELDS[topic](rng, at, lead_id)
        value = encode_event(f"ev-{spec.seed}-{i}", lead_id, at, fields)
        messages.append((topic, lead_id.encode(), value))
        per_lead[lead] += 1
        per_topic[topic] += 1
    hottest = sorted(per_lead, reverse=True)[: max(1, spec.leads // 100)]
    return Workload(
        messages,
        per_topic,
        distinct_leads=sum(1 for count in per_lead if count),
        hottest_percent_share=sum(hottest) / max(1, spec.events),
    )


def profile_messages(
    lead_ids: list[str], event_prefix: str, at_ms: int, seed: int = 0
) -> list[Message]:
    """One profile update with an email per lead: each makes one visitor->lead stage change."""
    rng = random.Random(seed)
    return [
        (
            "lead-profiles",
            lead_id.encode(),
            encode_event(f"{event_prefix}{i}", lead_id, at_ms, profile_fields(rng, lead_id)),
        )
        for i, lead_id in enumerate(lead_ids)
    ]
