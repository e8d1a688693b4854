"""A synthetic, deterministic history of B2B leads: for the demo, tests and backtests.

Pure: no clock, and no I/O but reading the definition. The same config gives the same leads,
events, ids and stream order. Each lead draws from its own random generator (seeded by the
seed and its id), so one lead's journey does not shift when another's changes. A lead is a
persona (who it is) plus a journey (what it does): a list of drafts that behaviours append to.
Reps act on what the worker shows them, so their `sales-actions` come last, planned from each
lead's delivered events by `streamproc.simulation_sales`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from streamproc.definitions import load_definition
from streamproc.domain.events import INPUT_EVENTS, TOPIC_OF_INPUT, Company, InputEvent, Person
from streamproc.simulation_sales import (
    DEFAULT_OPPORTUNITY_SHARE,
    DEFAULT_QUALIFY_SHARE,
    Delivery,
    SalesTeam,
    Weights,
    check_weights,
)

Activity = Literal["hot", "warm", "quiet"]
SITE = "https://www.example.com"


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """How many leads over how many days from `start`, their seed and share of good fits; the
    definition (shipped name or file) whose reps work the MQLs; and how those reps work.

    Of the MQLs, reps review `review_rate` and accept `accept_share` of those reviewed, and
    reject the others with a reason drawn from `reject_reasons` ((code, weight) pairs of the
    definition's reason codes; None for the reasons reps give by fit). Of the accepted, they
    qualify `qualify_share` as SQLs; of the SQLs they call, `opportunity_share` open a deal.
    """

    start: datetime
    leads: int = 200
    days: int = 14
    seed: int = 7
    icp_share: float = 0.3
    definition: str = "default"
    review_rate: float = 0.8
    accept_share: float = 0.8
    qualify_share: float = DEFAULT_QUALIFY_SHARE
    opportunity_share: float = DEFAULT_OPPORTUNITY_SHARE
    reject_reasons: Weights | None = None

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        shares = (
            self.icp_share,
            self.review_rate,
            self.accept_share,
            self.qualify_share,
            self.opportunity_share,
        )
        if self.leads < 0 or self.days < 1 or not all(0.0 <= share <= 1.0 for share in shares):
            raise ValueError("need leads >= 0, days >= 1 and shares between 0 and 1")
        if self.reject_reasons is not None:
            check_weights(self.reject_reasons)


@dataclass(frozen=True)
class SimulatedLead:
    """The truth behind a lead's events: who it is and how eager it is to buy."""

    lead_id: str
    good_fit: bool
    activity: Activity
    email: str
    company: Company
    person: Person
    utc_offset: timedelta
    lane: Literal["inbound", "outbound"]


@dataclass(frozen=True)
class _Behaviour:
    sessions: tuple[int, int]
    pages: tuple[int, int]
    pricing: float  # chance that a page view is the pricing page
    download: float  # chance of a download per session once identified
    bottom: float  # share of downloads that are bottom of the funnel
    demo: float  # chance of booking a demo at all
    identify: float  # chance of ever filling in a form


@dataclass(frozen=True)
class _Market:
    """What companies and people of one kind (good or poor fit) look like."""

    industries: tuple[str, ...]
    suffixes: tuple[str, ...]
    titles: tuple[tuple[str, str], ...]  # (title, seniority)
    countries: tuple[tuple[str, float], ...]  # (country, UTC offset in hours)


_ACTIVITIES: tuple[Activity, ...] = ("hot", "warm", "quiet")
# Good fits are keener on average, but each kind has hot, warm and quiet leads.
_ACTIVITY_MIX = {True: (0.3, 0.4, 0.3), False: (0.07, 0.28, 0.65)}
_BEHAVIOURS: dict[Activity, _Behaviour] = {
    "hot": _Behaviour((4, 10), (2, 7), 0.22, 0.2, 0.5, 0.55, 0.97),
    "warm": _Behaviour((2, 6), (1, 5), 0.07, 0.1, 0.15, 0.06, 0.85),
    "quiet": _Behaviour((1, 2), (1, 3), 0.02, 0.03, 0.0, 0.0, 0.6),
}
_GOOD = _Market(
    industries=("saas", "software", "technology", "fintech"),
    suffixes=("Labs", "Cloud", "Systems", "Analytics", "Software", "AI"),
    titles=(
        ("VP Marketing", "vp"),
        ("VP of Sales", "vp"),
        ("Director of Demand Generation", "director"),
        ("Head of Growth", "director"),
        ("Chief Revenue Officer", "c_level"),
        ("CTO", "c_level"),
        ("Director of Revenue Operations", "director"),
    ),
    countries=(("US", -5), ("US", -8), ("GB", 0), ("DE", 1), ("CA", -5), ("NL", 1), ("FI", 2)),
)
_POOR = _Market(
    industries=("retail", "education", "hospitality", "non-profit"),
    suffixes=("Outfitters", "Academy", "College", "Hotels", "Foundation", "Market"),
    titles=(
        ("Marketing Intern", "entry"),
        ("Student", "entry"),
        ("Junior Analyst", "entry"),
        ("Sales Associate", "entry"),
        ("Teacher", "entry"),
        ("Office Assistant", "entry"),
    ),
    countries=(("US", -6), ("IN", 5.5), ("BR", -3), ("ZA", 2), ("PH", 8), ("GB", 0)),
)
_PREFIXES = ("North", "Bright", "Blue", "Iron", "Silver", "Cedar", "Nova", "Red", "Clear", "Open")
_ROOTS = ("wind", "path", "stone", "field", "gate", "wave", "leaf", "bridge", "peak", "forge")
_FIRST = ("Ada", "Ben", "Chloe", "Dario", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas")
_LAST = ("Okafor", "Schmidt", "Nguyen", "Garcia", "Larsen", "Patel", "Moreau", "Kim", "Rossi")
# (paths, weight early in a journey, weight late in it); pricing is drawn separately.
_PAGES = (
    (("/",), 3.0, 1.0),
    (("/blog/lead-scoring-101", "/blog/pricing-models-explained", "/blog/mql-vs-sql"), 4.0, 1.0),
    (("/product",), 2.0, 2.0),
    (("/features/real-time-scoring", "/features/lead-routing"), 1.5, 2.0),
    (("/integrations/salesforce", "/integrations/hubspot"), 0.5, 1.5),
    (("/docs/quickstart", "/docs/api"), 0.3, 1.5),
    (("/customers",), 0.5, 1.0),
)
_PRICING = ("/pricing", "/pricing?plan=team", "/pricing#enterprise", "/pricing/")
# (utm_source, utm_medium, utm_campaign, referrer); mail clients send no referrer.
_CAMPAIGNS = (
    ("google", "cpc", "brand-search", "https://www.google.com/"),
    ("linkedin", "paid-social", "abm-q1", "https://www.linkedin.com/"),
    ("newsletter", "email", "weekly-digest", ""),
    ("g2", "referral", "category-page", "https://www.g2.com/"),
)
# (asset_id, asset_type, funnel_stage)
_TOP_ASSETS = (
    ("whitepaper-real-time-scoring", "whitepaper", "top"),
    ("ebook-mql-playbook", "ebook", "top"),
    ("case-study-northwind", "case-study", "middle"),
    ("webinar-lead-routing", "webinar", "middle"),
)
_BOTTOM_ASSETS = (
    ("roi-calculator", "roi-calculator", "bottom"),
    ("buyer-guide-2026", "buyer-guide", "bottom"),
)
_SEARCH = "https://www.google.com/"
_DUPLICATE_SHARE = 0.01  # producer retries re-send an event with the same event_id
_LATE_SHARE = 0.005  # events held back by a slow producer
_SENT, _RESENT, _ACTED = 0, 1, 2  # kinds of delivery, in the order they sort among equals


@dataclass(frozen=True)
class _Draft:
    at: datetime
    topic: str
    fields: dict[str, Any]


def _lead_id(index: int) -> str:
    return f"lead-{index + 1:05d}"


def _good_fits(config: SimulationConfig) -> set[int]:
    picker = random.Random(f"{config.seed}/icp")
    return set(picker.sample(range(config.leads), round(config.icp_share * config.leads)))


def _persona(lead_id: str, good_fit: bool, rng: random.Random) -> SimulatedLead:
    market = _GOOD if good_fit else _POOR
    activity = rng.choices(_ACTIVITIES, _ACTIVITY_MIX[good_fit])[0]
    if good_fit:
        employees = round(math.exp(rng.uniform(math.log(50), math.log(1000))))
    elif rng.random() < 0.5:
        employees = rng.randint(1, 30)
    else:
        employees = rng.randint(5_000, 200_000)
    name = f"{rng.choice(_PREFIXES)}{rng.choice(_ROOTS)} {rng.choice(market.suffixes)}"
    domain = name.lower().replace(" ", "") + (".io" if good_fit else ".com")
    country, offset = rng.choice(market.countries)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    mailbox = "gmail.com" if not good_fit and rng.random() < 0.4 else domain
    title, seniority = rng.choice(market.titles)
    return SimulatedLead(
        lead_id=lead_id,
        good_fit=good_fit,
        activity=activity,
        email=f"{first}.{last}@{mailbox}".lower(),
        company=Company(
            name=name,
            domain=domain,
            employees=employees,
            industry=rng.choice(market.industries),
            annual_revenue=round(employees * rng.uniform(60_000, 250_000), -3),
            country=country,
        ),
        person=Person(title=title, seniority=seniority),
        utc_offset=timedelta(hours=offset),
        # SDRs prospect good fits: a quarter of them enter as outbound leads.
        lane="outbound" if good_fit and rng.random() < 0.25 else "inbound",
    )


def simulated_leads(config: SimulationConfig) -> tuple[SimulatedLead, ...]:
    """The personas behind `simulate(config)`: who each lead is, good fit or not."""
    good = _good_fits(config)
    return tuple(
        _persona(_lead_id(i), i in good, random.Random(f"{config.seed}/{_lead_id(i)}"))
        for i in range(config.leads)
    )


def _profile(lead: SimulatedLead, rng: random.Random) -> dict[str, Any]:
    """The first profile: forms leave fields out, which enrichment fills in later."""
    company = lead.company.model_dump(exclude_none=True)
    for name, kept in (("employees", 0.85), ("industry", 0.85), ("annual_revenue", 0.5)):
        if rng.random() > kept:
            del company[name]
    person = {"title": lead.person.title}
    if rng.random() < 0.25:
        person["seniority"] = lead.person.seniority
    return {"email": lead.email, "company": company, "person": person}


def _updates(lead: SimulatedLead, at: datetime, rng: random.Random) -> list[_Draft]:
    """Partial profile updates after identification: enrichment and job title changes."""
    drafts = []
    if rng.random() < 0.35:
        company = lead.company.model_dump(include={"employees", "industry", "annual_revenue"})
        enriched = {"company": company, "source": "enrichment"}
        drafts.append(_Draft(at + timedelta(hours=rng.uniform(1, 72)), "lead-profiles", enriched))
    if rng.random() < 0.08:
        title, seniority = rng.choice((_GOOD if lead.good_fit else _POOR).titles)
        person = {"person": {"title": title, "seniority": seniority}}
        drafts.append(_Draft(at + timedelta(days=rng.uniform(2, 10)), "lead-profiles", person))
    return drafts


def _page(progress: float, behaviour: _Behaviour, rng: random.Random) -> str:
    # Interest deepens over a journey: pricing and docs late, blog and home early.
    if rng.random() < behaviour.pricing * (0.5 + progress):
        return rng.choice(_PRICING)
    weights = [early + (late - early) * progress for _, early, late in _PAGES]
    return rng.choice(rng.choices([paths for paths, _, _ in _PAGES], weights)[0])


def _journey(lead: SimulatedLead, config: SimulationConfig, rng: random.Random) -> list[_Draft]:
    behaviour = _BEHAVIOURS[lead.activity]
    span = timedelta(days=config.days).total_seconds()
    first = rng.uniform(0, 0.75 * span)
    # A Pareto factor gives the long tail with a hot head: a few leads visit very often.
    count = rng.randint(*behaviour.sessions) * min(int(rng.paretovariate(1.3)), 10)
    starts = sorted([first, *(rng.uniform(first, span) for _ in range(count - 1))])
    drafts: list[_Draft] = []
    identify_at = rng.randrange(len(starts)) if rng.random() < behaviour.identify else None
    if lead.lane == "outbound":  # an SDR entered the lead into the CRM before it browsed
        identify_at = -1
        crm_at = config.start + timedelta(seconds=first / 2)
        fields = {**_profile(lead, rng), "lane": "outbound", "source": "sdr-prospecting"}
        drafts += [_Draft(crm_at, "lead-profiles", fields), *_updates(lead, crm_at, rng)]
    demo_at = None
    if identify_at is not None and rng.random() < behaviour.demo:
        demo_at = rng.randint(max(identify_at, len(starts) // 2), len(starts) - 1)
    anonymous_id = f"anon-{rng.getrandbits(40):010x}"
    for index, offset in enumerate(starts):
        at = config.start + timedelta(seconds=round(offset))
        # A session lands from a campaign or a search; later pages are internal navigation.
        landing = rng.choice(_CAMPAIGNS) if rng.random() < 0.35 else ("", "", "", _SEARCH)
        *utm, referrer = landing
        for _ in range(rng.randint(*behaviour.pages)):
            url = SITE + _page(index / len(starts), behaviour, rng)
            fields = {"url": url, "anonymous_id": anonymous_id, "referrer": referrer}
            fields.update(zip(("utm_source", "utm_medium", "utm_campaign"), utm, strict=True))
            drafts.append(_Draft(at, "page-visits", {k: v for k, v in fields.items() if v}))
            referrer, utm = url, ["", "", ""]
            at += timedelta(seconds=rng.randint(15, 240))
        if index == identify_at:
            source = rng.choice(("contact-form", "newsletter-signup", "content-download"))
            drafts.append(_Draft(at, "lead-profiles", {**_profile(lead, rng), "source": source}))
            drafts.extend(_updates(lead, at, rng))
        # Content is gated by a form, so only identified leads download.
        identified = identify_at is not None and index >= identify_at
        if identified and rng.random() < behaviour.download:
            assets = _BOTTOM_ASSETS if rng.random() < behaviour.bottom else _TOP_ASSETS
            asset_id, asset_type, stage = rng.choice(assets)
            fields = {"asset_id": asset_id, "asset_type": asset_type, "funnel_stage": stage}
            drafts.append(_Draft(at + timedelta(seconds=30), "downloads", fields))
        if index == demo_at:
            meeting = at + timedelta(days=rng.randint(1, 6))
            meeting = meeting.replace(minute=0, second=0, microsecond=0)
            channel = rng.choice(("website", "chat", "sales-email"))
            fields = {"scheduled_for": meeting, "channel": channel}
            drafts.append(_Draft(at + timedelta(seconds=60), "demo-bookings", fields))
    # The history ends at start + days: what would happen later has not happened yet.
    end = config.start + timedelta(seconds=span)
    return [draft for draft in drafts if draft.at < end]


def _events(lead: SimulatedLead, drafts: list[_Draft]) -> list[InputEvent]:
    """Drafts as events, numbered in event-time order. The web tracker writes local time with
    the visitor's offset; the CRM and the booking tool write UTC."""
    local = timezone(lead.utc_offset)
    events = []
    for number, draft in enumerate(sorted(drafts, key=lambda d: d.at), start=1):
        zone = local if draft.topic in ("page-visits", "downloads") else UTC
        events.append(
            INPUT_EVENTS[draft.topic](
                event_id=f"{lead.lead_id}-{number}",
                lead_id=lead.lead_id,
                occurred_at=draft.at.astimezone(zone).replace(microsecond=0),
                **draft.fields,
            )
        )
    return events


def simulate(config: SimulationConfig) -> Iterator[tuple[str, InputEvent]]:
    """Every lead's events as (topic without prefix, event), in stream order.

    Stream order is event-time order, except that about 1% of events are re-sent later with
    the same event_id (a producer retry) and about 0.5% of the behaviour and profile events
    arrive up to four hours late. Holds the whole history in memory: for large ones, sort
    `deliveries(config)` outside memory. Raises DefinitionError if the definition cannot be
    loaded, ValueError if `reject_reasons` has codes outside its taxonomy.
    """
    for _, _, event in sorted(deliveries(config), key=lambda item: item[:2]):
        yield TOPIC_OF_INPUT[type(event)], event


def deliveries(config: SimulationConfig) -> Iterator[Delivery]:
    """The deliveries of `simulate(config)`, lead by lead; sorted by (delivered at, order)
    they are its stream order. Only one lead's events are held at a time.

    The delays of late events and producer retries come from one generator per seed, drawn
    lead by lead, so the history is the same however it is then sorted.
    """
    team = SalesTeam(
        load_definition(config.definition),
        config.review_rate,
        config.accept_share,
        qualify_share=config.qualify_share,
        opportunity_share=config.opportunity_share,
        reject_reasons=config.reject_reasons,
    )
    good = _good_fits(config)
    end = config.start + timedelta(days=config.days)
    delivery = random.Random(f"{config.seed}/delivery")
    # Sales actions are retried like other events but never late: a late action would reach
    # the worker after the rep's next one on the lead, which the stage table would refuse.
    retries = random.Random(f"{config.seed}/delivery/sales-actions")
    # Order numbers by kind: first sends, then retries, then sales actions (and their
    # retries), so that events delivered in the same microsecond keep that order.
    numbers = [0, 0, 0]
    for index in range(config.leads):
        rng = random.Random(f"{config.seed}/{_lead_id(index)}")
        lead = _persona(_lead_id(index), index in good, rng)
        delivered: list[Delivery] = []
        for event in _events(lead, _journey(lead, config, rng)):
            delivered.append((event.occurred_at, (_SENT, numbers[_SENT]), event))
            numbers[_SENT] += 1
        for position in range(len(delivered)):
            at, order, event = delivered[position]
            if delivery.random() < _LATE_SHARE:
                at += timedelta(minutes=delivery.uniform(15, 240))
                delivered[position] = (at, order, event)
            if delivery.random() < _DUPLICATE_SHARE:
                retry = at + timedelta(seconds=delivery.uniform(1, 1200))
                delivered.append((retry, (_RESENT, numbers[_RESENT]), event))
                numbers[_RESENT] += 1
        yield from delivered
        actions = team.actions(
            lead, delivered, end, random.Random(f"{config.seed}/{lead.lead_id}/sales")
        )
        for action in actions:
            yield action.occurred_at, (_ACTED, numbers[_ACTED]), action
            numbers[_ACTED] += 1
            if retries.random() < _DUPLICATE_SHARE:
                retry = action.occurred_at + timedelta(seconds=retries.uniform(1, 1200))
                yield retry, (_ACTED, numbers[_ACTED]), action
                numbers[_ACTED] += 1
