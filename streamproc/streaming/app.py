"""The Faust application: topics, tables, the ingest loop and its agent, the SLA and expiry
timers.
Its web views are attached above, in `streamproc.worker`.

The ingest loop (`ingest.py`) is the one writer of lead state; a Faust agent hands it the
messages of the low-volume topics. Bad input goes to `dead-letters`; anything else stops the
worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
import mode

from streamproc.definitions import check_distinct, load_definition
from streamproc.domain.definition import Definition
from streamproc.domain.events import ClockTicked
from streamproc.domain.state import to_ms
from streamproc.kafka_client import faust_credentials
from streamproc.settings import Settings
from streamproc.streaming.codec import TICKS_TOPIC, encode
from streamproc.streaming.fence import Fence, Membership
from streamproc.streaming.ingest import BATCHED_TOPICS, Ingest
from streamproc.streaming.lead_batch import DecodedStates, LeadBatch, Outcome
from streamproc.streaming.lead_store import Tables, lead_tables
from streamproc.streaming.limits import Limits
from streamproc.streaming.metrics import Metrics
from streamproc.streaming.partitioning import PartitionCheck
from streamproc.streaming.sla_timer import (
    EXPIRY_RETICK_AFTER_MS,
    EXPIRY_TICKS_PER_SCAN,
    SlaTimer,
)

log = logging.getLogger(__name__)

# Keys and values stay bytes: decoding is ours (orjson + pydantic) so bad input is ours to
# report. Passed as keywords, not as one shared faust.Schema: a Table rewrites the serializers
# of the Schema object it is given, which turned the topics' raw keys into JSON keys.
RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}
AGENT_BATCH = 2000
AGENT_WAIT = 0.05
"""The agent hands over up to AGENT_BATCH messages, or what came within AGENT_WAIT seconds:
a hand-over waits for a batch of the loop anyway, so it pays to bring many."""
SLA_TIMER_INTERVAL = 1.0
"""Seconds between scans for passed deadlines: a breach is published about this late."""


@dataclass(frozen=True)
class Pipeline:
    """The Faust app and the parts of it that tests and commands reach for."""

    app: faust.App
    definition: Definition
    settings: Settings
    tables: Tables
    ingest: Ingest
    agent: Any
    sla_timer: SlaTimer
    metrics: Metrics | None
    """None when `settings.metrics` is off."""


class _App(faust.App):
    """Faust's app, stopping the ingest loop first when the worker stops.

    Faust stops its consumer and revokes the tables' partitions first, and cancels its tasks
    last: the loop would go on applying batches to revoked tables in between, and the
    cancellation would cut one short, whose outputs the next worker then published again
    (`tests/integration/test_ingest.py` saw that in 4 runs of 4)."""

    before_stop: Callable[[], Awaitable[None]] | None = None

    async def on_stop(self) -> None:
        try:
            if self.before_stop is not None:
                await self.before_stop()
        finally:
            await super().on_stop()


def _faust_app(settings: Settings) -> _App:
    return _App(
        settings.topic(settings.app_id),
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir / "worker"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        web_bind=settings.web_host,
        # What the other workers forward a request for a lead this one owns to.
        web_host=advertised_host(settings),
        web_port=settings.web_port,
        canonical_url=advertised_url(settings),
        # Faust's /table/ view shows any table's data, its /router/ view the cluster's
        # hosts; routing (`app.table_route`) reads the assignment, not these views.
        web_tables_enabled=False,
        web_router_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.session_timeout / 10,
        autodiscover=False,
    )


def advertised_host(settings: Settings) -> str:
    """The host the other workers reach this one's web server at."""
    return settings.web_advertised_host or settings.web_host


def advertised_url(settings: Settings) -> str:
    """This worker's web server as the other workers reach it (an IPv6 host in brackets)."""
    host = advertised_host(settings)
    return (
        f"http://[{host}]:{settings.web_port}"
        if ":" in host
        else f"http://{host}:{settings.web_port}"
    )


def create_app(settings: Settings, definition: Definition | None = None) -> Pipeline:
    """Build the Faust app for `settings`; the definition defaults to `settings.definition`."""
    definition = definition or load_definition(settings.definition)
    shadow = None
    if settings.shadow_definition:
        shadow = load_definition(settings.shadow_definition)
        check_distinct(definition, settings.definition, shadow, settings.shadow_definition)
    app = _faust_app(settings)
    # The SLA timer's ticks: a Faust agent reads them and hands them to the loop. It also
    # anchors Faust's partition assignment, which the loop follows.
    ticks = app.topic(settings.topic(TICKS_TOPIC), **RAW)
    tables = lead_tables(app, settings)

    async def send_tick(key: bytes, partition: int, tick: ClockTicked) -> None:
        await ticks.send(key=key, partition=partition, value=encode(tick))

    sla_timer = SlaTimer(send_tick, started_ms=to_ms(datetime.now(UTC)))

    decoded, shadow_decoded = DecodedStates(), DecodedStates()
    limits = Limits.of(settings)

    def new_batch() -> LeadBatch:
        grace_ms = round(settings.action_grace * 1000)
        return LeadBatch(
            tables,
            definition,
            sla_timer.clocks,
            shadow,
            grace_ms,
            len(settings.topic_prefix),
            decoded=decoded,
            shadow_decoded=shadow_decoded,
            limits=limits,
        )

    metrics = Metrics(definition.label) if settings.metrics else None
    partition_check = PartitionCheck(
        settings.partitions,
        [settings.topic(topic) for topic in BATCHED_TOPICS],
        len(settings.topic_prefix),
        tables.lead_states,
    )
    fence = Fence(membership_of(app, settings.topic(TICKS_TOPIC)), settings.session_timeout)
    ingest = Ingest(settings, new_batch, metrics, partition_check, fence)

    async def hand_over(stream: Any) -> AsyncIterator[Outcome]:
        """Hand the ticks to the ingest loop, the one writer of lead state; Faust commits
        them once the loop has made them durable."""
        async for events in stream.take_events(AGENT_BATCH, within=AGENT_WAIT):
            for outcome in await ingest.submit([event.message for event in events]):
                yield outcome

    # An unexpected error stops the worker instead of restarting the agent: a restarted agent
    # skips the message it crashed on, and a lost event is worse than a stopped worker.
    agent = app.agent(
        ticks, name="hand_over_to_ingest", supervisor_strategy=mode.CrashingSupervisor
    )(hand_over)

    async def run_ingest() -> None:
        try:
            await ingest.run()
        except Exception as error:  # the same rule for the loop: stop the worker
            await app.crash(error)
            raise

    app.task(run_ingest)
    app.before_stop = ingest.close
    follow_rebalances(app, ingest, settings.topic(TICKS_TOPIC))

    async def tick_overdue_leads() -> None:
        wall_ms = to_ms(datetime.now(UTC))
        sent = await sla_timer.tick_overdue(list(tables.deadlines.items()), wall_ms)
        if sent:
            log.info("sent %d SLA ticks", sent)

    app.timer(interval=SLA_TIMER_INTERVAL)(tick_overdue_leads)

    # Expiry ticks go the same way: a second ticker on the expiry index, on the same clocks,
    # scanned less often (its index holds every lead that can expire; docs/internals.md).
    expiry_timer = SlaTimer(
        send_tick,
        started_ms=0,
        clocks=sla_timer.clocks,
        retick_after_ms=EXPIRY_RETICK_AFTER_MS,
        most_per_scan=EXPIRY_TICKS_PER_SCAN,
    )

    async def tick_expired_leads() -> None:
        wall_ms = to_ms(datetime.now(UTC))
        sent = await expiry_timer.tick_overdue(list(tables.expiries.items()), wall_ms)
        if sent:
            log.info("sent %d expiry ticks", sent)

    app.timer(interval=settings.expiry_scan_interval)(tick_expired_leads)
    return Pipeline(app, definition, settings, tables, ingest, agent, sla_timer, metrics)


def membership_of(app: faust.App, anchor_topic: str) -> Callable[[], Membership]:
    """The worker's membership as its Faust consumer sees it now, for the ingest loop's fence.

    The generation is read from the consumer's coordinator, which resets it as soon as a
    heartbeat learns that the group moved on (`app.consumer_generation_id` changes only at the
    next assignment); the consumer runs in its own thread, and an int is read whole."""

    def membership() -> Membership:
        generation = app.consumer_generation_id
        try:
            coordinator = app.consumer._thread._ensure_consumer()._coordinator  # type: ignore[attr-defined]
            generation = int(coordinator.generation)
        except Exception:  # no consumer yet, or another driver: Faust's own figure
            log.debug("the fence reads Faust's generation", exc_info=True)
        assigned = app.consumer.assignment()
        return Membership(
            generation=generation,
            partitions=frozenset(tp.partition for tp in assigned if tp.topic == anchor_topic),
            rebalancing=bool(app.rebalancing),
        )

    return membership


def follow_rebalances(app: faust.App, ingest: Ingest, anchor_topic: str) -> None:
    """Stop the ingest loop when a rebalance starts; once Faust has recovered the tables of
    the new assignment, read its partitions (those Faust gave us of `anchor_topic`: all
    input topics are co-partitioned, so the numbers are the same for every one)."""
    resuming: set[asyncio.Task[None]] = set()

    async def stop(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await ingest.stop_reading()

    async def resume_when_recovered(generation: int, stops_seen: int) -> None:
        # Faust reports a recovery complete before it checks that no newer rebalance began;
        # only when the app stops rebalancing is the current assignment's recovery done.
        try:
            while app.rebalancing:
                if app.consumer_generation_id != generation:
                    return  # a newer rebalance: its own completion resumes the loop
                await asyncio.sleep(0.02)
            if app.consumer_generation_id == generation:
                assigned = app.consumer.assignment()
                await ingest.read_partitions(
                    frozenset(tp.partition for tp in assigned if tp.topic == anchor_topic),
                    stops_seen,
                )
        except Exception as error:  # a worker that cannot resume must not idle silently
            await app.crash(error)

    async def recovered(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        task = asyncio.create_task(resume_when_recovered(app.consumer_generation_id, ingest.stops))
        resuming.add(task)
        task.add_done_callback(resuming.discard)

    app.on_partitions_revoked.connect(stop, weak=False)
    app.on_rebalance_complete.connect(recovered, weak=False)
