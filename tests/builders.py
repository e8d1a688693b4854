"""Builders of input events for tests: readable scenarios, unique ids unless given."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from streamproc.domain.events import (
    ContentDownloaded,
    DemoBooked,
    LeadErasureRequested,
    PageVisited,
    ProfileUpdated,
    SalesActionTaken,
)

T0 = datetime.fromisoformat("2026-03-02T09:00:00+00:00")
_ids = itertools.count(1)


def at(days: float = 0, hours: float = 0) -> datetime:
    """A moment relative to T0, the start of every scenario."""
    return T0 + timedelta(days=days, hours=hours)


def _id(event_id: str | None) -> str:
    return event_id or f"evt-{next(_ids)}"


def visit(
    lead: str, when: datetime, url: str = "https://acme.test/pricing", event_id: str | None = None
) -> PageVisited:
    return PageVisited(event_id=_id(event_id), lead_id=lead, occurred_at=when, url=url)


def download(
    lead: str,
    when: datetime,
    asset_type: str = "roi-calculator",
    funnel_stage: str | None = "bottom",
    event_id: str | None = None,
) -> ContentDownloaded:
    return ContentDownloaded.model_validate(
        {
            "event_id": _id(event_id),
            "lead_id": lead,
            "occurred_at": when,
            "asset_id": f"asset-{asset_type}",
            "asset_type": asset_type,
            "funnel_stage": funnel_stage,
        }
    )


def demo(lead: str, when: datetime, event_id: str | None = None) -> DemoBooked:
    return DemoBooked(event_id=_id(event_id), lead_id=lead, occurred_at=when)


ACME_FIT: dict[str, Any] = {
    "email": "vp@fit.test",
    "company": {"name": "Fit Co", "employees": 120, "industry": "SaaS", "country": "DE"},
    "person": {"title": "VP of Marketing"},
}


def profile(
    lead: str, when: datetime, event_id: str | None = None, **fields: Any
) -> ProfileUpdated:
    return ProfileUpdated.model_validate(
        {"event_id": _id(event_id), "lead_id": lead, "occurred_at": when, **fields}
    )


def good_fit(lead: str, when: datetime, **overrides: Any) -> ProfileUpdated:
    """A profile that meets every Acme fit rule (fit 60) and the default's best fit rules."""
    return profile(lead, when, **{**ACME_FIT, **overrides})


def action(
    lead: str, when: datetime, name: str, event_id: str | None = None, **fields: Any
) -> SalesActionTaken:
    return SalesActionTaken.model_validate(
        {
            "event_id": _id(event_id),
            "lead_id": lead,
            "occurred_at": when,
            "action": name,
            "rep_id": "rep-1",
            **fields,
        }
    )


def erasure(
    lead: str, when: datetime, event_id: str | None = None, requested_by: str | None = "dpo"
) -> LeadErasureRequested:
    return LeadErasureRequested.model_validate(
        {
            "event_id": _id(event_id),
            "lead_id": lead,
            "requested_at": when,
            "requested_by": requested_by,
        }
    )


def replay(events: Any, definition: Any) -> tuple[Any, list[Any]]:
    """Apply events in order through `decide`: the final state and every output, in order."""
    from streamproc.domain.lead import decide

    state, outputs = None, []
    for event in events:
        decision = decide(state, event, definition)
        if not decision.duplicate:
            state = None if decision.erase else decision.state
        outputs.extend(decision.outputs)
    return state, outputs
