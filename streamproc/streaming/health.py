"""Whether the worker is alive, and whether it is ready: what `/livez` and `/readyz` answer.

Alive: the event loop answers (whoever asks gets an answer from it) and the ingest loop runs.
Ready: the worker holds its partitions, Faust has recovered their tables, and the ingest loop
reads exactly those partitions. Anything else is a reason, one line, for the 503.
"""

from __future__ import annotations

from typing import Any

from streamproc.streaming.ingest import Ingest


class Health:
    """Reads the state of Faust's app and of the ingest loop; changes nothing."""

    def __init__(self, app: Any, ingest: Ingest, anchor_topic: str) -> None:
        self._app = app
        self._ingest = ingest
        self._anchor_topic = anchor_topic
        """The topic whose partitions Faust assigns (all inputs are co-partitioned)."""

    def not_alive(self) -> str | None:
        """Why the worker is not alive, or None. The ingest loop starts once Faust has
        recovered the tables the first time: until then the worker is alive without it."""
        if self._app.should_stop or self._app.crashed:
            return "the worker is stopping"
        if self._ingest.state == "ended":
            return "the ingest loop has stopped"
        return None

    def not_ready(self) -> str | None:
        """Why the worker is not ready, or None when it is."""
        app = self._app
        if app.should_stop or app.crashed:
            return "stopping"
        if not app.rebalancing_count:
            return "starting: joining the consumer group"
        if app.rebalancing:
            return "recovering tables" if app.in_recovery else "rebalancing"
        if self._ingest.state == "not started":
            return "starting: the ingest loop has not started yet"
        if self._ingest.state == "ended":
            return "the ingest loop has stopped"
        assigned = self._assigned()
        if not assigned:
            return "no partitions assigned"
        if self._ingest.partitions != assigned:
            return "resuming: the ingest loop does not read its partitions yet"
        return None

    def ready(self) -> bool:
        return self.not_ready() is None

    def _assigned(self) -> frozenset[int]:
        return frozenset(
            tp.partition for tp in self._app.consumer.assignment() if tp.topic == self._anchor_topic
        )
