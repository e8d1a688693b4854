"""`GET /leads/{lead_id}/`: a lead's stage and its score right now, rule by rule.

The worker that owns the lead's partition answers; another worker forwards the request there.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from streamproc.domain.definition import Definition
from streamproc.domain.scoring import score_lead
from streamproc.domain.state import LeadState, from_ms
from streamproc.web.auth import BearerGuard


def describe_lead(state: LeadState, definition: Definition) -> dict[str, Any]:
    """What a person asks about a lead: where it stands and why, at its newest event time."""
    described: dict[str, Any] = state.model_dump(
        mode="json", include={"lead_id", "stage", "highest_stage", "crossings", "profile"}
    )
    if state.clock_ms is not None:
        evaluation = score_lead(state.profile, state.countable_hits, definition, state.clock_ms)
        described.update(
            scored_at=from_ms(state.clock_ms).isoformat(),
            definition=definition.label,
            threshold=definition.threshold,
            score=evaluation.score.model_dump(),
            contributions=[c.model_dump() for c in evaluation.contributions],
            gates_met=list(evaluation.gates_met),
            qualifies=evaluation.qualifies,
        )
    return described


def add_lead_view(
    app: faust.App, lead_states: Any, definition: Definition, guard: BearerGuard
) -> None:
    """Serve `/leads/{lead_id}/` from the worker's HTTP server, behind `guard`."""

    @app.page("/leads/{lead_id}/")
    class LeadView(View):
        @guard  # before forwarding: the owner checks the forwarded header again
        @app.table_route(table=lead_states, match_info="lead_id")
        async def get(self: View, request: Request, **match_info: Any) -> Response:
            lead_id = str(match_info["lead_id"])
            stored = lead_states.get(lead_id.encode())
            if stored is None:
                return self.notfound(f"no lead {lead_id!r}")
            return self.json(describe_lead(LeadState.model_validate_json(stored), definition))
