"""The worker's tables: lead states, queue rotations per partition, owed SLA deadlines, when
each lead expires, and the shadow definition's lead states.

All are changelog-backed Faust tables with bytes keys and values. Only the ingest loop writes
them, one batch at a time, and only after the batch's changelog records are acknowledged
(`durable.make_durable`), so a recovered worker has exactly what the crashed one committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streamproc.settings import Settings
from streamproc.streaming.durability import durable_configs


@dataclass(frozen=True)
class Tables:
    """The worker's tables (Faust tables, or in tests anything with `get`)."""

    lead_states: Any
    """lead id -> LeadState JSON."""
    rotations: Any
    """partition number -> Rotation JSON: round robin is kept per partition, because a
    partition's events are the only ones that may write its state."""
    deadlines: Any
    """lead id -> `deadline_ms:partition` of its earliest owed reaction: the small index the
    SLA timer scans instead of every lead."""
    shadow_states: Any = None
    """lead id -> the shadow definition's LeadState JSON, when shadow mode is on."""
    expiries: Any = None
    """lead id -> `expires_ms:partition`, when the lead expires without further activity
    (rounded up to EXPIRY_STEP_MS): the index the expiry timer scans (docs/internals.md)."""


CHANGELOG_CONFIGS = {
    "segment.bytes": str(16 * 2**20),
    "segment.ms": str(600_000),
}
"""Topic settings of the changelogs Faust creates. Kafka compacts closed segments only, and
by default a segment closes at 1 GB or after 7 days: after `make bench`'s throughput and
latency runs the lead table's changelog held 343,224 records, and a worker starting without
its store read them all (127.7 s). With segments closed at 16 MB or after 10 minutes the
broker's cleaner keeps it near one record per lead while the worker runs (173,860 records of
172,575 leads, read in 35.7 s; README, "Benchmark"). Only topics created from now on get
these: an existing changelog keeps its settings until altered (`kafka-configs --alter`)."""


def changelog_configs(settings: Settings) -> dict[str, str]:
    """CHANGELOG_CONFIGS, and `min.insync.replicas` 2 when replicated (`durability`): a
    changelog record acknowledged by one replica could be lost with it."""
    return {**CHANGELOG_CONFIGS, **durable_configs(settings.replication)}


def lead_tables(app: faust.App, settings: Settings) -> Tables:
    """Declare the worker's tables on `app`."""

    # bytes keys and values get Faust's raw codec in the changelogs.
    def table(name: str) -> Any:
        return app.Table(
            name,
            default=None,
            partitions=settings.partitions,
            key_type=bytes,
            value_type=bytes,
            extra_topic_configs=changelog_configs(settings),
        )

    return Tables(
        table("lead-states"),
        table("queue-rotations"),
        table("sla-deadlines"),
        table("shadow-states") if settings.shadow_definition else None,
        table("lead-expiries"),
    )


def changelog_topics(tables: Tables) -> list[str]:
    """The full names of the tables' changelog topics (Faust names and creates them)."""
    held = (
        tables.lead_states,
        tables.rotations,
        tables.deadlines,
        tables.shadow_states,
        tables.expiries,
    )
    return [table.changelog_topic.get_topic_name() for table in held if table is not None]
