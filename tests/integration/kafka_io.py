"""Plain Kafka clients for integration tests: produce inputs, collect outputs, wait for lag 0."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamproc.bench.kafka_ops import read_to_end
from streamproc.domain.events import TOPIC_OF_INPUT, InputEvent
from streamproc.kafka_client import client_options
from streamproc.settings import Settings
from streamproc.streaming.codec import encode
from streamproc.streaming.ingest import worker_groups
from streamproc.streaming.topics import INPUT_TOPICS, OUTPUT_TOPICS


async def produce(
    settings: Settings, messages: Sequence[tuple[str, bytes | None, bytes | None]]
) -> None:
    """Send (topic without prefix, key, value) messages in order and wait for every ack."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send_and_wait(settings.topic(topic), value, key=key)
    finally:
        await producer.stop()


async def produce_backlog(
    settings: Settings, messages: Sequence[tuple[str, bytes | None, bytes | None]]
) -> None:
    """Send (topic without prefix, key, value) messages fast, stamped a millisecond apart in
    their order (a live source's send times; a bulk send would stamp many alike)."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    first_ms = int(time.time() * 1000) - len(messages)
    try:
        sent = [
            await producer.send(settings.topic(topic), value, key=key, timestamp_ms=first_ms + i)
            for i, (topic, key, value) in enumerate(messages)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def send_events(settings: Settings, *events: InputEvent) -> None:
    """Produce input events to their topics, keyed by lead id, in order."""
    messages = [(TOPIC_OF_INPUT[type(e)], e.lead_id.encode(), encode(e)) for e in events]
    await produce(settings, messages)


def new_lead() -> str:
    """A lead id no other test uses: scenarios share a worker and its topics."""
    return f"lead-{uuid.uuid4().hex[:10]}"


class OutputCollector:
    """Reads every output topic from the beginning in the background, grouped by message key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.by_key: dict[bytes | None, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        self._consumer = AIOKafkaConsumer(
            *(settings.topic(name) for name in OUTPUT_TOPICS),
            **client_options(settings),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()

    async def _collect(self) -> None:
        prefix = len(self.settings.topic_prefix)
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for partition, records in batches.items():
                for record in records:
                    value = orjson.loads(record.value) if record.value else {}
                    self.by_key[record.key].append((partition.topic[prefix:], value))

    def of(self, key: str | bytes | None, topic: str) -> list[dict[str, Any]]:
        raw = key.encode() if isinstance(key, str) else key
        return [value for name, value in self.by_key.get(raw, []) if name == topic]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, (
                f"timed out after {timeout}s; outputs so far: {dict(self.by_key)}"
            )
            await asyncio.sleep(0.1)


async def wait_until_processed(settings: Settings, timeout: float = 60) -> None:
    """Wait until the worker's groups have committed every input partition up to its end.

    Offsets are committed only for what was processed and published, so a committed end
    offset means every input so far is in the state and its outputs are on their topics.
    """
    consumer = AIOKafkaConsumer(**client_options(settings))
    await consumer.start()
    try:
        ends = await consumer.end_offsets(_input_partitions(settings))
    finally:
        await consumer.stop()

    def behind(committed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        return {tp: end for tp, end in ends.items() if end and committed.get(tp, 0) < end}

    await _wait_for_commits(settings, lambda committed: not behind(committed), timeout)


async def wait_until_committed(settings: Settings, events: int, timeout: float = 60) -> None:
    """Wait until the worker's groups have committed at least `events` input events."""
    await _wait_for_commits(settings, lambda committed: sum(committed.values()) >= events, timeout)


async def committed_offsets(settings: Settings) -> dict[TopicPartition, int]:
    """The input offsets the worker's groups have committed; a partition never committed is
    left out."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        return await _committed(admin, settings)
    finally:
        await admin.close()


async def _wait_for_commits(
    settings: Settings, done: Callable[[dict[TopicPartition, int]], bool], timeout: float
) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while not done(committed := await _committed(admin, settings)):
            assert time.monotonic() < deadline, f"commits after {timeout}s: {committed}"
            await asyncio.sleep(0.25)
    finally:
        await admin.close()


async def _committed(admin: AIOKafkaAdminClient, settings: Settings) -> dict[TopicPartition, int]:
    inputs = set(_input_partitions(settings))
    committed = {}
    for group in worker_groups(settings):
        offsets = await admin.list_consumer_group_offsets(group)
        committed.update({tp: meta.offset for tp, meta in offsets.items() if tp in inputs})
    return committed


def _input_partitions(settings: Settings) -> list[TopicPartition]:
    return [
        TopicPartition(settings.topic(name), p)
        for name in INPUT_TOPICS
        for p in range(settings.partitions)
    ]


async def latest_values(settings: Settings, topic: str) -> dict[bytes, bytes]:
    """The newest value of every key of `topic` (a full name, e.g. a changelog), read to its
    end; keys whose newest record is a tombstone are left out."""
    partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
    read = await read_to_end(settings, partitions)
    values = {record.key: record.value for record in read}
    return {key: value for key, value in values.items() if key and value is not None}


async def event_ids_published(settings: Settings, topic: str) -> list[str]:
    """The `event_id` of every record on output `topic` (without the prefix), in no order."""
    name = settings.topic(topic)
    partitions = [TopicPartition(name, p) for p in range(settings.partitions)]
    return [
        orjson.loads(record.value)["event_id"]
        for record in await read_to_end(settings, partitions)
        if record.value
    ]


async def positions_by_event_id(settings: Settings) -> dict[str, tuple[TopicPartition, int]]:
    """Where each input event sits first (its topic partition and offset): a source may send
    an event again, and the worker applies it where it came first."""
    positions: dict[str, tuple[TopicPartition, int]] = {}
    for record in await read_to_end(settings, _input_partitions(settings)):
        if record.value:
            event_id = orjson.loads(record.value)["event_id"]
            where = (TopicPartition(record.topic, record.partition), record.offset)
            positions[event_id] = min(positions.get(event_id, where), where)
    return positions
