"""Plain aiokafka for the benchmark: bulk produce, end and committed offsets, topics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamproc.kafka_client import client_options
from streamproc.settings import Settings
from streamproc.streaming.topics import partition_for

BATCH_BYTES = 256 * 1024
PROGRESS_EVERY = 5.0
"""Seconds between progress lines of a long wait."""
Progress = Callable[[str], None]


def producer(cluster: Settings, linger_ms: int = 5) -> AIOKafkaProducer:
    """The bench's producer: acks=1, batched, like a fast event source."""
    return AIOKafkaProducer(
        **client_options(cluster),
        acks=1,
        linger_ms=linger_ms,
        max_batch_size=BATCH_BYTES,
        max_request_size=4 * BATCH_BYTES,
    )


class Batches:
    """Messages gathered into one Kafka batch per topic partition (partitioned by key, as the
    default partitioner does), each sent when full or at `flush`: a record costs a fraction
    of a `send` call, so the bench's own producing leaves the CPU to the worker."""

    def __init__(self, client: AIOKafkaProducer, partitions: int) -> None:
        self.client, self.partitions = client, partitions
        self.pending: list[asyncio.Future[Any]] = []
        """Sent batches not yet seen acknowledged."""
        self._open: dict[tuple[str, int], Any] = {}

    async def add(self, topic: str, key: bytes, value: bytes) -> None:
        slot = (topic, partition_for(key, self.partitions))
        batch = self._open.get(slot) or self._open.setdefault(slot, self.client.create_batch())
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            await self._send(slot, batch)
            batch = self._open[slot] = self.client.create_batch()
            batch.append(key=key, value=value, timestamp=None)

    async def flush(self) -> None:
        """Send every batch that holds a record."""
        open_batches, self._open = self._open, {}
        for slot, batch in open_batches.items():
            if batch.record_count():
                await self._send(slot, batch)

    def forget_acknowledged(self) -> None:
        self.pending = [future for future in self.pending if not future.done()]

    async def _send(self, slot: tuple[str, int], batch: Any) -> None:
        topic, partition = slot
        self.pending.append(await self.client.send_batch(batch, topic, partition=partition))


async def produce_bulk(
    cluster: Settings,
    messages: Iterable[tuple[str, bytes, bytes]],
    partitions: int,
    progress: Progress | None = None,
) -> tuple[int, float]:
    """Send (full topic name, key, value) in key-partitioned batches; (count, seconds) once
    every batch is acknowledged."""
    client = producer(cluster)
    await client.start()
    started = last_report = time.perf_counter()
    batches = Batches(client, partitions)
    count = 0
    try:
        for topic, key, value in messages:
            await batches.add(topic, key, value)
            count += 1
            if count % 2048 == 0:
                batches.forget_acknowledged()
                await asyncio.sleep(0)  # let the sender and Ctrl-C in
                if progress and time.perf_counter() - last_report > PROGRESS_EVERY:
                    last_report = time.perf_counter()
                    progress(f"{count:,} sent ({count / (last_report - started):,.0f}/s)")
        await batches.flush()
        await asyncio.gather(*batches.pending)
    finally:
        await client.stop()
    return count, time.perf_counter() - started


def partitions_of(topics: Iterable[str], partitions: int) -> list[TopicPartition]:
    return [TopicPartition(topic, number) for topic in topics for number in range(partitions)]


async def end_offsets(cluster: Settings, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(cluster))
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


@dataclass
class CommitWait:
    """How waiting for a group to commit every partition to its end went."""

    done: bool
    seconds: float
    committed: int
    total: int
    timeline: list[tuple[float, int]] = field(default_factory=list)


async def wait_committed(
    cluster: Settings,
    groups: Sequence[str],
    ends: dict[TopicPartition, int],
    timeout: float,
    check: Callable[[], None] = lambda: None,
    progress: Progress | None = None,
    started: float | None = None,
) -> CommitWait:
    """Poll the committed offsets of `groups` until each partition reaches `ends` or `timeout`.

    Like `wait_until_processed` in the integration tests: Faust commits only what it has
    processed and published. `check` raises if the consumer died. Times count from `started`
    (perf_counter), default now.
    """
    started = time.perf_counter() if started is None else started
    total = sum(ends.values())
    admin = AIOKafkaAdminClient(**client_options(cluster))
    await admin.start()
    wait = CommitWait(False, 0.0, 0, total)
    last_report = time.perf_counter()
    try:
        while True:
            check()
            offsets = {}
            for group in groups:
                offsets.update(await admin.list_consumer_group_offsets(group))
            now = time.perf_counter()
            wait.committed = sum(
                min(end, offsets[tp].offset) if tp in offsets and offsets[tp].offset >= 0 else 0
                for tp, end in ends.items()
            )
            wait.seconds = now - started
            wait.timeline.append((wait.seconds, wait.committed))
            if wait.committed >= total:
                wait.done = True
                return wait
            if wait.seconds > timeout:
                return wait
            if progress and now - last_report > PROGRESS_EVERY:
                last_report = now
                progress(f"{wait.committed:,}/{total:,} committed after {wait.seconds:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def create_topics(
    cluster: Settings, names: list[str], partitions: int, configs: dict[str, str] | None = None
) -> None:
    admin = AIOKafkaAdminClient(**client_options(cluster))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1, topic_configs=configs or {}) for n in names]
        await admin.create_topics([topic for topic in new if topic.name not in existing])
        for _ in range(50):  # until every partition has a leader: then producers find them
            described = await admin.describe_topics(names)
            leaders = [p["leader"] for t in described for p in t.get("partitions", [])]
            if len(leaders) == len(names) * partitions and min(leaders, default=-1) >= 0:
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def delete_topics(cluster: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix`; the names deleted."""
    admin = AIOKafkaAdminClient(**client_options(cluster))
    await admin.start()
    try:
        names = sorted(n for n in await admin.list_topics() if n.startswith(prefix))
        for start in range(0, len(names), 50):
            await admin.delete_topics(names[start : start + 50])
        return names
    finally:
        await admin.close()


async def read_to_end(
    cluster: Settings, tps: list[TopicPartition]
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `tps`, from the beginning to the end each had when called, each
    partition's in order."""
    consumer = AIOKafkaConsumer(**client_options(cluster), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        read: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                read.extend(records)
        return read
    finally:
        await consumer.stop()
