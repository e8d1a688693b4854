"""State has a lifetime: when a lead expires for lack of activity (the definition's `retention`).

Inactivity is measured in event time, from the lead's newest activity (its newest event, or
its newest stage change: a rep's action moves the stage without an event of the lead's own),
against the clock that ticks it (the partition's clock in the worker, the history's clock in a
replay), so a replay expires the same leads as the live run did.
"""

from __future__ import annotations

from streamproc.domain.definition import Retention
from streamproc.domain.events import Stage
from streamproc.domain.state import LeadState

PAST_SQL = frozenset({Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER})
"""Stages in which a lead is kept whatever its inactivity, unless `expire_past_sql`."""


def expires_at_ms(state: LeadState, retention: Retention) -> int | None:
    """When (event time, ms) `state` expires if nothing more happens to it; None while it is
    kept regardless: an SLA reaction is owed (unless `expire_owing_sla`), a sales action waits
    for its stage, the lead is in sql, opportunity or customer (unless `expire_past_sql`), or
    it has no activity in event time at all.

    A visitor lives `retention.visitors` after its newest activity, any other stage
    `retention.leads`."""
    if state.parked or (state.sla_clocks and not retention.expire_owing_sla):
        return None
    if state.stage in PAST_SQL and not retention.expire_past_sql:
        return None
    active = [t for t in (state.clock_ms, state.stage_since_ms) if t is not None]
    if not active:
        return None
    lifetime = retention.visitors_ms if state.stage is Stage.VISITOR else retention.leads_ms
    return max(active) + lifetime


def is_expired(state: LeadState, retention: Retention, now_ms: int) -> bool:
    """Whether `state` has expired by `now_ms` (event time): its expiry is at or before it."""
    expires = expires_at_ms(state, retention)
    return expires is not None and expires <= now_ms
