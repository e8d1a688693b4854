"""The Faust application: topics, tables, the agent that drives the domain, the SLA timer.

The agent is thin on purpose: decode the message, call `decide`, store what changed, send
what the domain returned. Bad input goes to `dead-letters`; anything else stops the worker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
import mode

from streamproc.definitions import load_definition
from streamproc.domain.definition import Definition
from streamproc.domain.events import ClockTicked, DeadLettered, OutputEvent
from streamproc.domain.lead import Arrival, decide
from streamproc.domain.lifecycle import DomainError
from streamproc.domain.state import to_ms
from streamproc.settings import Settings
from streamproc.streaming.codec import TICKS_TOPIC, InputError, decode_input, encode
from streamproc.streaming.deadletters import dead_letter
from streamproc.streaming.lead_store import LeadStore
from streamproc.streaming.shadow import ShadowScorer
from streamproc.streaming.sla_timer import SlaTimer
from streamproc.streaming.topics import CONSUMED_TOPICS, OUTPUT_TOPICS, TOPIC_OF
from streamproc.web.leads import add_lead_view

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
SLA_TIMER_INTERVAL = 1.0
"""Seconds between scans for passed deadlines: a breach is published about this late."""


@dataclass(frozen=True)
class Outcome:
    """What the agent did with one message; yielded so tests and sinks can observe it."""

    topic: str
    offset: int
    outputs: tuple[OutputEvent, ...] = ()
    duplicate: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Pipeline:
    """The Faust app and the parts of it that tests and commands reach for."""

    app: faust.App
    definition: Definition
    settings: Settings
    store: LeadStore
    outputs: dict[str, Any]
    agent: Any
    sla_timer: SlaTimer
    shadow: ShadowScorer | None


def _faust_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.topic(settings.app_id),
        broker=f"kafka://{settings.bootstrap_servers}",
        store=settings.store,
        datadir=str(settings.data_dir / "worker"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        consumer_auto_offset_reset="earliest",
        producer_linger=0.005,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.session_timeout / 10,
        autodiscover=False,
    )


def create_app(settings: Settings, definition: Definition | None = None) -> Pipeline:
    """Build the Faust app for `settings`; the definition defaults to `settings.definition`."""
    definition = definition or load_definition(settings.definition)
    app = _faust_app(settings)
    inputs = app.topic(*(settings.topic(name) for name in CONSUMED_TOPICS), **RAW)
    outputs = {name: app.topic(settings.topic(name), **RAW) for name in OUTPUT_TOPICS}
    ticks = app.topic(settings.topic(TICKS_TOPIC), **RAW)
    store = LeadStore.create(app, settings)
    shadow = (
        ShadowScorer.create(app, settings, load_definition(settings.shadow_definition))
        if settings.shadow_definition
        else None
    )
    prefix_length = len(settings.topic_prefix)
    grace_ms = round(settings.action_grace * 1000)

    async def send_tick(key: bytes, partition: int, tick: ClockTicked) -> None:
        await ticks.send(key=key, partition=partition, value=encode(tick))

    sla_timer = SlaTimer(send_tick, started_ms=to_ms(datetime.now(UTC)))

    def letter_for(message: Any, error: Exception | None = None) -> DeadLettered:
        return dead_letter(
            message.topic, message.partition, message.offset, message.key, message.value, error
        )

    async def send_dead_letter(letter: DeadLettered) -> None:
        where = f"{letter.topic}[{letter.partition}]@{letter.offset}"
        log.warning("dead letter %s: %s", where, letter.error)
        await outputs["dead-letters"].send(key=(letter.key or "").encode(), value=encode(letter))

    def arrival(message: Any, topic: str) -> Arrival | None:
        """Only sales actions may wait for an earlier event; they keep their origin for it."""
        if topic != "sales-actions":
            return None
        origin = letter_for(message).model_dump(
            include={"topic", "partition", "offset", "key", "value"}
        )
        return Arrival(to_ms(datetime.now(UTC)), origin, grace_ms)

    async def score_lead_events(stream: faust.StreamT[bytes]) -> AsyncIterator[Outcome]:
        """Apply each input event (or timer tick) to its lead and publish what changed."""
        async for event in stream.events():
            message = event.message
            topic = message.topic[prefix_length:]
            try:
                lead_event = decode_input(topic, message.key, message.value)
                state, rotation = store.load(message.key, message.partition)
                decision = decide(state, lead_event, definition, rotation, arrival(message, topic))
            except (InputError, DomainError) as error:
                await send_dead_letter(letter_for(message, error))
                yield Outcome(topic, message.offset, error=str(error))
                continue
            # Outputs are handed to the producer before the state that records them, so they
            # are never behind it: see "Delivery" in the README for what is left.
            for refusal in decision.refused:
                await send_dead_letter(
                    DeadLettered(**refusal.origin, error=refusal.error, failed_at=datetime.now(UTC))
                )
            for output in decision.outputs:
                await outputs[TOPIC_OF[type(output)]].send(
                    key=output.lead_id.encode(), value=encode(output)
                )
            store.save(message.key, message.partition, state, rotation, decision)
            if not isinstance(lead_event, ClockTicked):
                sla_timer.clocks.observe(
                    topic,
                    message.partition,
                    to_ms(lead_event.occurred_at),
                    to_ms(datetime.now(UTC)),
                )
                if shadow:
                    await shadow.apply(message.key, lead_event, outputs["mql-crossed-shadow"])
            yield Outcome(topic, message.offset, decision.outputs, decision.duplicate)

    # An unexpected error stops the worker instead of restarting the agent: a restarted agent
    # skips the message it crashed on, and a lost event is worse than a stopped worker.
    agent = app.agent(
        inputs, name="score_lead_events", supervisor_strategy=mode.CrashingSupervisor
    )(score_lead_events)

    async def tick_overdue_leads() -> None:
        wall_ms = to_ms(datetime.now(UTC))
        sent = await sla_timer.tick_overdue(list(store.deadlines.items()), wall_ms)
        if sent:
            log.info("sent %d SLA ticks", sent)

    app.timer(interval=SLA_TIMER_INTERVAL)(tick_overdue_leads)

    add_lead_view(app, store.lead_states, definition)
    return Pipeline(app, definition, settings, store, outputs, agent, sla_timer, shadow)
