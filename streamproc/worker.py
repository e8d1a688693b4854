"""The worker composed: the Faust app of `streaming.app` with the web views of `web/` on
it, and the Faust worker that runs it. The one module that imports both layers."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import Any

import faust

from streamproc.domain.definition import Definition
from streamproc.logs import logging_config
from streamproc.settings import Settings
from streamproc.streaming.app import Pipeline, advertised_host, create_app
from streamproc.streaming.codec import TICKS_TOPIC
from streamproc.streaming.health import Health
from streamproc.streaming.metrics import Sources
from streamproc.web.auth import BearerGuard
from streamproc.web.health import add_health_views
from streamproc.web.ingest import add_ingest_view
from streamproc.web.leads import add_lead_view
from streamproc.web.metrics import add_metrics_view

log = logging.getLogger(__name__)


def compose_worker(settings: Settings, definition: Definition | None = None) -> Pipeline:
    """The worker's app with its views: health and metrics open, lead data behind the
    token when one is set."""
    pipeline = create_app(settings, definition)
    app, ingest = pipeline.app, pipeline.ingest
    health = Health(app, ingest, settings.topic(TICKS_TOPIC))
    add_health_views(app, health)
    if pipeline.metrics is not None:
        pipeline.metrics.sources = Sources(
            lag=ingest.lag_now, leads=lambda: lead_count(pipeline), ready=health.ready
        )
        add_metrics_view(app, pipeline.metrics)
    guard = BearerGuard(settings.web_token)
    add_lead_view(app, pipeline.tables.lead_states, pipeline.definition, guard)
    add_ingest_view(app, ingest, guard)
    return pipeline


ROCKSDB_KEY_ESTIMATE = "rocksdb.estimate-num-keys"


def lead_count(pipeline: Pipeline) -> int | None:
    """Leads in the worker's lead table. With rocksdb:// RocksDB's own estimate per active
    partition (`len` would read every key on every scrape); None for a store that has neither.
    With memory:// every key held, standby copies of other workers' partitions included."""
    table = pipeline.tables.lead_states
    if pipeline.settings.store.startswith("memory"):
        return len(table)
    actives = getattr(table.data, "_dbs_for_actives", None)  # Faust's rocksdb:// store
    if actives is None:
        return None
    # Active partitions only: a standby copy of another worker's partition is not ours.
    return sum(int(db.property_int_value(ROCKSDB_KEY_ESTIMATE) or 0) for db in actives())


def exposure_warning(settings: Settings) -> str | None:
    """The warning for a web server that anyone may reach and no token guards, or None."""
    if settings.web_token is not None or _is_loopback(settings.web_host):
        return None
    return (
        f"the web server listens on {settings.web_host}:{settings.web_port} without "
        "STREAMPROC_WEB_TOKEN: lead data (/leads/, /ingest/) is exposed to anyone who "
        "reaches that address"
    )


def forwarding_warning(settings: Settings) -> str | None:
    """The warning for a worker that advertises a wildcard address: the other workers cannot
    forward a request for one of its leads to it, and answer 404."""
    if advertised_host(settings) not in WILDCARDS:
        return None
    return (
        f"the web server advertises {advertised_host(settings)}, which other workers cannot "
        "reach: set STREAMPROC_WEB_ADVERTISED_HOST to this worker's address (in Kubernetes, "
        "the pod's IP) or /leads/ answers 404 for leads it owns when asked of another worker"
    )


WILDCARDS = ("0.0.0.0", "::", "")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


class Worker(faust.Worker):
    """Faust's worker, which says at start what the settings leave exposed. Named as
    Faust's: its log lines name the class, and "[^Worker]: Ready" is what the tests, the
    bench and the demo wait for (`worker_process.READY_LINE`)."""

    def __init__(self, pipeline: Pipeline, warnings: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(pipeline.app, **kwargs)
        self._settings = pipeline.settings
        self._warnings = [*warnings]

    async def on_start(self) -> None:  # logging is set up by now
        await super().on_start()
        found = (exposure_warning(self._settings), forwarding_warning(self._settings))
        for line in [*(warning for warning in found if warning), *self._warnings]:
            log.warning(line)


def run_worker(pipeline: Pipeline, warnings: Sequence[str] = ()) -> None:
    """Run the worker until it is stopped (SIGTERM, SIGINT) or crashes; logs as configured,
    and logs `warnings` (found before it started) once logging is set up."""
    settings = pipeline.settings
    Worker(
        pipeline, warnings, loglevel=settings.log_level, logging_config=logging_config(settings)
    ).execute_from_commandline()
