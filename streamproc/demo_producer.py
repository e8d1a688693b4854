"""The demo's producer: a simulated history at an even pace, with a few broken messages."""

from __future__ import annotations

import asyncio
import math

import orjson
from aiokafka import AIOKafkaProducer

from streamproc.demo_summary import Tally
from streamproc.domain.events import InputEvent
from streamproc.kafka_client import client_options
from streamproc.settings import Settings
from streamproc.streaming.codec import encode

BAD_MESSAGES = 3
"""How many broken messages the demo sends, to show where they end up."""


def bad_messages(stream: list[tuple[str, InputEvent]]) -> dict[int, tuple[str, bytes, bytes]]:
    """BAD_MESSAGES broken messages (topic, key, value), by the stream position to send each at.

    Truncated JSON, a page visit without its url, and a valid event under another lead's key:
    each must end up on `dead-letters` with a sentence that says what is wrong.
    """
    n = len(stream)
    near = stream[n // 2][1]
    no_url = {"event_id": "demo-bad-2", "lead_id": near.lead_id, "occurred_at": near.occurred_at}
    topic, misfiled = stream[4 * n // 5]
    return {
        n // 5: ("page-visits", near.lead_id.encode(), b'{"event_id": "demo-bad-1", "lead_id": '),
        n // 2: ("page-visits", near.lead_id.encode(), orjson.dumps(no_url)),
        4 * n // 5: (topic, b"lead-99999", encode(misfiled)),
    }


async def produce(
    settings: Settings, stream: list[tuple[str, InputEvent]], seconds: float, tally: Tally
) -> None:
    """Send the stream keyed by lead id at an even pace over `seconds`, plus bad messages."""
    broken = bad_messages(stream) if stream else {}
    tally.planned = len(stream) + len(broken)
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=5)
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        started, sent = loop.time(), 0
        seen: set[str] = set()
        while sent < len(stream):
            due = min(len(stream), math.ceil((loop.time() - started) / seconds * len(stream)))
            pending = []
            for position in range(sent, due):
                if position in broken:
                    topic, key, value = broken[position]
                    pending.append(await producer.send(settings.topic(topic), value, key=key))
                    tally.bad += 1
                topic, event = stream[position]
                tally.retries += event.event_id in seen
                tally.actions += topic == "sales-actions" and event.event_id not in seen
                seen.add(event.event_id)
                key = event.lead_id.encode()
                pending.append(await producer.send(settings.topic(topic), encode(event), key=key))
            await asyncio.gather(*pending)
            sent = due
            tally.produced = sent + tally.bad
            await asyncio.sleep(0.1)
    finally:
        await producer.stop()
