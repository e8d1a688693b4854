"""Making a batch durable: its outputs acknowledged, then its changelog records, then stored.

The batch's outputs go to their topics first; once the brokers have acknowledged them, each
table write goes to its table's changelog partition. Only when those are acknowledged too
are the writes applied to the local tables, through Faust's own `apply_changelog_batch` (the
path table recovery uses), with the offsets the broker gave. So the local tables never hold a
state whose changelog record or outputs could still be lost, and the caller may commit the
batch's input offsets as soon as this returns.

Records go out in whole Kafka batches, one per topic partition (more when one is full), each
acknowledged as a whole: sent one by one, with a future each, 2,300 changelog records took
70 ms; in batches, 25 ms (measured on this machine).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from faust.types import TP, Message

from streamproc.streaming.lead_batch import Publication, TableWrite
from streamproc.streaming.topics import partition_for

BATCH_BYTES = 1_000_000
"""The most one Kafka batch holds: below the broker's default message size (1 MiB)."""


class BatchBuilder(Protocol):
    """aiokafka's `BatchBuilder`: `append` returns None when the batch is full (the first
    record always fits)."""

    def append(self, *, key: bytes | None, value: bytes | None, timestamp: int | None) -> Any: ...


class Producer(Protocol):
    """The part of aiokafka's producer used here. `send_batch` returns the future of the
    batch's acknowledgement, whose `offset` is that of the batch's first record."""

    def create_batch(self) -> BatchBuilder: ...

    async def send_batch(
        self, batch: BatchBuilder, topic: str, *, partition: int
    ) -> Awaitable[Any]: ...

    async def partitions_for(self, topic: str) -> set[int]: ...


@dataclass(frozen=True)
class Outgoing:
    """A record to send: topic, partition, key and value."""

    topic: str
    partition: int
    key: bytes
    value: bytes | None


@dataclass
class _Batch:
    """One Kafka batch being filled, and the positions of its records in what is sent."""

    topic: str
    partition: int
    builder: BatchBuilder
    positions: list[int] = field(default_factory=list)

    def add(self, position: int, record: Outgoing) -> bool:
        if self.builder.append(key=record.key, value=record.value, timestamp=None) is None:
            return False
        self.positions.append(position)
        return True

    async def send(self, producer: Producer) -> Awaitable[Any]:
        return await producer.send_batch(self.builder, self.topic, partition=self.partition)


async def send_in_batches(producer: Producer, records: Sequence[Outgoing]) -> list[int]:
    """Send `records` (each topic partition's in the order given), wait until all are
    acknowledged, and return the offset each record got."""
    sent: list[tuple[Awaitable[Any], _Batch]] = []
    filling: dict[tuple[str, int], _Batch] = {}
    for position, record in enumerate(records):
        batch = filling.get((record.topic, record.partition))
        if batch is not None and batch.add(position, record):
            continue
        if batch is not None:  # full: off it goes, and the next one starts
            sent.append((await batch.send(producer), batch))
        batch = _Batch(record.topic, record.partition, producer.create_batch())
        filling[record.topic, record.partition] = batch
        batch.add(position, record)
    for batch in filling.values():
        sent.append((await batch.send(producer), batch))
    acknowledged = await asyncio.gather(*(ack for ack, _ in sent))
    offsets = [0] * len(records)
    for metadata, (_, batch) in zip(acknowledged, sent, strict=True):
        for index, position in enumerate(batch.positions):
            offsets[position] = metadata.offset + index
    return offsets


@dataclass(frozen=True)
class ChangelogRecord:
    """What `apply_changelog_batch` reads of a changelog event: key, value and the message."""

    key: bytes
    value: bytes | None
    message: Message


async def make_durable(
    producer: Producer,
    topic_name: Callable[[str], str],
    publications: Sequence[Publication],
    writes: Sequence[TableWrite],
) -> float:
    """Send `publications` and wait for their acknowledgements; then send the changelog
    records of `writes`, wait for theirs, and apply `writes` to their tables. Returns when
    the outputs were acknowledged (seconds since the epoch)."""
    # Outputs first: on a cluster their partitions and the changelog's have different
    # leaders, and a crash between two landings must never leave a state that says an event
    # was applied without the outputs it made (a replay would skip it as a duplicate).
    topics = [topic_name(item.topic) for item in publications]
    partitions = {topic: len(await producer.partitions_for(topic)) for topic in set(topics)}
    outputs = [
        Outgoing(topic, partition_for(item.key, partitions[topic]), item.key, item.value)
        for topic, item in zip(topics, publications, strict=True)
    ]
    await send_in_batches(producer, outputs)
    acknowledged_at = time.time()
    changelogs = [_changelog_of(write) for write in writes]
    offsets = await send_in_batches(
        producer,
        [
            Outgoing(topic, write.partition, write.key, write.value)
            for topic, write in zip(changelogs, writes, strict=True)
        ],
    )
    by_table: dict[Any, list[ChangelogRecord]] = defaultdict(list)
    now = time.time()
    for topic, write, offset in zip(changelogs, writes, offsets, strict=True):
        message = Message(
            topic=topic,
            partition=write.partition,
            offset=offset,
            timestamp=now,
            timestamp_type=0,
            headers=None,
            key=write.key,
            value=write.value,
            checksum=None,
            tp=TP(topic, write.partition),
        )
        by_table[write.table].append(ChangelogRecord(write.key, write.value, message))
    for table, records in by_table.items():
        table.apply_changelog_batch(cast(Any, records))
    return acknowledged_at


def _changelog_of(write: TableWrite) -> str:
    return cast(str, write.table.changelog_topic.get_topic_name())
