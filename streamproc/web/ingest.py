"""`GET /ingest/`: how far the ingest loop has committed in each partition it reads, and its lag.

The same figures as `kafka-consumer-groups --describe --group <app id>-ingest`, from the
worker that reads the partitions.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from streamproc.streaming.ingest import Ingest
from streamproc.web.auth import BearerGuard


def add_ingest_view(app: faust.App, ingest: Ingest, guard: BearerGuard) -> None:
    """Serve `/ingest/` from the worker's HTTP server, behind `guard`."""

    @app.page("/ingest/")
    class IngestView(View):
        @guard
        async def get(self: View, request: Request) -> Response:
            rows = await ingest.lag()
            partitions: list[dict[str, Any]] = [
                {
                    "topic": row.topic,
                    "partition": row.partition,
                    "committed": row.committed,
                    "end": row.end,
                    "lag": row.lag,
                }
                for row in rows
            ]
            total = sum(row.lag or 0 for row in rows)
            return self.json(
                {"group": ingest.group_id, "partitions": partitions, "total_lag": total}
            )
