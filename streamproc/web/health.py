"""`GET /livez` and `GET /readyz`: 200, or 503 with the reason in one line of text.

Open without a token: an orchestrator's probes and a load balancer ask them.
"""

from __future__ import annotations

import faust
from faust.web import Request, Response, View

from streamproc.streaming.health import Health


def add_health_views(app: faust.App, health: Health) -> None:
    """Serve `/livez` and `/readyz` from the worker's HTTP server."""

    def answer(view: View, reason: str | None, good: str) -> Response:
        if reason is None:
            return view.text(f"{good}\n")
        return view.text(f"{reason}\n", status=503)

    @app.page("/livez")
    class LiveView(View):
        async def get(self: View, request: Request) -> Response:
            return answer(self, health.not_alive(), "alive")

    @app.page("/readyz")
    class ReadyView(View):
        async def get(self: View, request: Request) -> Response:
            return answer(self, health.not_ready(), "ready")
