"""`GET /leads/{lead_id}/`: a lead's stage and its score right now, rule by rule.

The worker that owns the lead's partition answers; another worker forwards the request there:
to the owner of the lead's murmur2 partition, then of its CRC32 one (a lead whose producers
used librdkafka's default partitioner).
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable
from yarl import URL

from streamproc.domain.definition import Definition
from streamproc.domain.scoring import score_lead
from streamproc.domain.state import LeadState, from_ms
from streamproc.streaming.partitioning import candidate_partitions
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


LOCAL_LOOKUP = "Streamproc-Lookup"
"""Header of a request one worker forwards to another: answer from your own table, do not
forward again (during a rebalance two workers may each think the other owns a partition)."""


def add_lead_view(
    app: faust.App, lead_states: Any, definition: Definition, guard: BearerGuard
) -> None:
    """Serve `/leads/{lead_id}/` from the worker's HTTP server, behind `guard`.

    A lead's state is in the partition its events came in: murmur2 of its id (Kafka's Java
    client), or CRC32 (librdkafka's default, `partitioning`). The view asks the owner of
    the first, then of the second, each through Faust's assignment of the table's changelog
    (what `app.table_route` reads), and answers 404 only when neither holds the lead."""
    partitions = lead_states.partitions or app.conf.topic_partitions

    def owner_of(partition: int) -> URL | None:
        """The web address of the worker that holds `partition` of the table, or None
        (not assigned: a rebalance)."""
        topic = lead_states.changelog_topic.get_topic_name()
        for url, assigned in app.router.table_metadata(lead_states.name).items():
            if partition in assigned.get(topic, ()):
                return URL(url)
        return None

    def is_this_worker(url: URL) -> bool:
        canonical = URL(str(app.conf.canonical_url))
        return (url.host, url.port) == (canonical.host, canonical.port)

    def answer(view: View, key: bytes, lead_id: str) -> Response:
        stored = lead_states.get(key)
        if stored is None:
            return view.notfound(f"no lead {lead_id!r}")
        return view.json(describe_lead(LeadState.model_validate_json(stored), definition))

    async def forward(view: View, owner: URL, request: Request) -> Response:
        """Ask `owner` for the lead from its own table (as Faust's `Router._route_req`
        does, with the header that stops it forwarding again)."""
        url = request.url.with_host(owner.host or "").with_port(owner.port)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        headers[LOCAL_LOOKUP] = "1"
        async with app.http_client.get(url, headers=headers) as response:
            return view.text(
                await response.text(), content_type=response.content_type, status=response.status
            )

    @app.page("/leads/{lead_id}/")
    class LeadView(View):
        @guard  # before forwarding: the owner checks the forwarded header again
        async def get(self: View, request: Request, **match_info: Any) -> Response:
            lead_id = str(request.match_info["lead_id"])
            key = lead_id.encode()
            if request.headers.get(LOCAL_LOOKUP):
                return answer(self, key, lead_id)
            unassigned = False
            for partition in candidate_partitions(key, partitions):
                owner = owner_of(partition)
                if owner is None:
                    unassigned = True
                elif is_this_worker(owner):
                    if lead_states.get(key) is not None:
                        return answer(self, key, lead_id)
                else:
                    forwarded = await forward(self, owner, request)
                    if forwarded.status != 404:
                        return forwarded
            if unassigned:  # the lead may be in a partition being moved
                raise ServiceUnavailable()
            return self.notfound(f"no lead {lead_id!r}")
