"""The worker's ingest path in Faust's app, with the producer captured: what a batch of
messages does to the Faust tables and what it sends, without a broker."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError

from streamproc.definitions import load_definition
from streamproc.settings import Settings
from streamproc.streaming.app import Pipeline
from streamproc.streaming.lead_batch import Outcome
from streamproc.worker import compose_worker


@dataclass(frozen=True)
class InputRecord:
    """A message as read from `topic` (its name on the cluster, prefix included)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class CapturingBatch:
    """aiokafka's batch builder, holding at most `room` records."""

    room: int
    records: list[tuple[bytes | None, bytes | None]] = field(default_factory=list)

    def append(self, *, key: bytes | None, value: bytes | None, timestamp: int | None) -> Any:
        if len(self.records) >= self.room:
            return None
        self.records.append((key, value))
        return len(self.records) - 1


BROKER_MESSAGE_BYTES = 1_048_588
"""Kafka's default `message.max.bytes`: a larger batch is refused (MESSAGE_SIZE_TOO_LARGE,
which aiokafka does not retry)."""


@dataclass
class CapturingProducer:
    """aiokafka's producer as the ingest loop uses it: records kept, each batch acknowledged
    at once with the next offsets of its partition, or failed with `failure` when one is
    set, or as the broker fails a batch over BROKER_MESSAGE_BYTES. Batches hold
    `batch_room` records, so that tests see full ones too."""

    sent: list[tuple[str, bytes | None, bytes | None, int | None]] = field(default_factory=list)
    failure: Exception | None = None
    batch_room: int = 3
    partitions: int = 4
    _offsets: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))

    def create_batch(self) -> CapturingBatch:
        return CapturingBatch(self.batch_room)

    async def send_batch(
        self, batch: CapturingBatch, topic: str, *, partition: int
    ) -> asyncio.Future[Any]:
        self.sent.extend((topic, key, value, partition) for key, value in batch.records)
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.failure is not None:
            ack.set_exception(self.failure)
            return ack
        size = sum(len(key or b"") + len(value or b"") for key, value in batch.records)
        if size > BROKER_MESSAGE_BYTES:
            ack.set_exception(MessageSizeTooLargeError())
            return ack
        offset = self._offsets[(topic, partition)]
        self._offsets[(topic, partition)] = offset + len(batch.records)
        ack.set_result(SimpleNamespace(offset=offset))
        return ack

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))


@dataclass
class IngestHarness:
    """Hands messages to the ingest path as if read from a topic's partition 0."""

    pipeline: Pipeline
    producer: CapturingProducer
    offsets: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def record(self, topic: str, key: bytes | None, value: bytes | None) -> InputRecord:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        return InputRecord(self.pipeline.settings.topic(topic), 0, offset, key, value)

    async def put(self, topic: str, key: bytes | None, value: bytes | None) -> Outcome:
        """Apply one message as a batch of its own."""
        [outcome] = await self.put_batch([self.record(topic, key, value)])
        return outcome

    async def put_batch(self, records: Sequence[InputRecord]) -> list[Outcome]:
        return await self.pipeline.ingest.apply(records)

    def sent_to(self, topic: str) -> list[dict[str, Any]]:
        name = self.pipeline.settings.topic(topic)
        return [
            orjson.loads(value) for to, _, value, _ in self.producer.sent if to == name and value
        ]

    def changelog_records(self, table: str) -> list[tuple[bytes | None, int | None]]:
        return [
            (key, partition)
            for to, key, _, partition in self.producer.sent
            if to.endswith(f"{table}-changelog")
        ]


async def _harness(settings: Settings) -> AsyncIterator[IngestHarness]:
    pipeline = compose_worker(settings, load_definition("acme"))
    pipeline.app.finalize()
    producer = CapturingProducer()
    pipeline.ingest.producer_of = lambda: producer
    yield IngestHarness(pipeline, producer)


@pytest.fixture
async def harness() -> AsyncIterator[IngestHarness]:
    """The worker on the Acme definition."""
    async for running in _harness(Settings(topic_prefix="agent-test.", store="memory://")):
        yield running


@pytest.fixture
async def shadow_harness() -> AsyncIterator[IngestHarness]:
    """The worker on Acme, with the default definition scored in its shadow."""
    settings = Settings(topic_prefix="agent-test.", shadow_definition="default")
    async for running in _harness(settings):
        yield running
