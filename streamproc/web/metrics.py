"""`GET /metrics`: the worker's metrics (`streaming.metrics`) in Prometheus's text format.

Open without a token: the figures are counts, no lead data.
"""

from __future__ import annotations

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamproc.streaming.metrics import Metrics


def add_metrics_view(app: faust.App, metrics: Metrics) -> None:
    """Serve `/metrics` from the worker's HTTP server."""

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self: View, request: Request) -> Response:
            # In the headers: aiohttp refuses a content type with a charset in the argument.
            return self.bytes(
                generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )
