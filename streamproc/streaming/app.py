"""The Faust application: topics, the lead-state table and the agent that drives the domain.

The agent is thin on purpose: decode the message, call `decide`, store the new state, send
what the domain returned. Bad input goes to `dead-letters`; anything else propagates.
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
from streamproc.domain.events import OutputEvent
from streamproc.domain.lead import LeadState, decide
from streamproc.domain.lifecycle import DomainError
from streamproc.settings import Settings
from streamproc.streaming.codec import InputError, decode_input, encode
from streamproc.streaming.deadletters import dead_letter
from streamproc.streaming.topics import INPUT_TOPICS, OUTPUT_TOPICS, TOPIC_OF
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
    lead_states: Any
    inputs: Any
    outputs: dict[str, Any]
    agent: Any


def create_app(settings: Settings, definition: Definition | None = None) -> Pipeline:
    """Build the Faust app for `settings`; the definition defaults to `settings.definition`."""
    definition = definition or load_definition(settings.definition)
    app = faust.App(
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
    inputs = app.topic(*(settings.topic(name) for name in INPUT_TOPICS), **RAW)
    outputs = {name: app.topic(settings.topic(name), **RAW) for name in OUTPUT_TOPICS}
    # bytes keys and values get Faust's raw codec in the changelog.
    lead_states = app.Table(
        "lead-states",
        default=None,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
    )
    prefix_length = len(settings.topic_prefix)

    async def score_lead_events(stream: faust.StreamT[bytes]) -> AsyncIterator[Outcome]:
        """Apply each input event to its lead and publish what changed."""
        async for event in stream.events():
            message = event.message
            topic = message.topic[prefix_length:]
            try:
                lead_event = decode_input(topic, message.key, message.value)
                stored = lead_states.get(message.key)
                state = LeadState.model_validate_json(stored) if stored else None
                decision = decide(state, lead_event, definition)
            except (InputError, DomainError) as error:
                log.warning(
                    "dead letter %s[%s]@%s: %s",
                    message.topic,
                    message.partition,
                    message.offset,
                    error,
                )
                failed = dead_letter(
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                    error,
                    datetime.now(UTC),
                )
                await outputs["dead-letters"].send(key=message.key, value=encode(failed))
                yield Outcome(topic, message.offset, error=str(error))
                continue
            if not decision.duplicate:
                lead_states[message.key] = encode(decision.state)
            for output in decision.outputs:
                topic_out = outputs[TOPIC_OF[type(output)]]
                await topic_out.send(key=output.lead_id.encode(), value=encode(output))
            yield Outcome(topic, message.offset, decision.outputs, decision.duplicate)

    # An unexpected error stops the worker instead of restarting the agent: a restarted agent
    # skips the message it crashed on, and a lost event is worse than a stopped worker.
    agent = app.agent(
        inputs, name="score_lead_events", supervisor_strategy=mode.CrashingSupervisor
    )(score_lead_events)
    add_lead_view(app, lead_states, definition)
    return Pipeline(app, definition, settings, lead_states, inputs, outputs, agent)
