"""Making a batch durable: its outputs acknowledged, then its changelog records, then stored.

The batch's outputs go to their topics first; once the brokers have acknowledged them, each
table write goes to its table's changelog partition. Only when those are acknowledged too
are the writes applied to the local tables, through Faust's own `apply_changelog_batch` (the
path table recovery uses), with the offsets the broker gave. So the local tables never hold a
state whose changelog record or outputs could still be lost, and the caller may commit the
batch's input offsets as soon as this returns.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from faust.types import TP, Message

from streamproc.streaming.lead_batch import Publication, TableWrite


class Producer(Protocol):
    """The part of Faust's producer used here: `send` hands a record over and returns the
    future of its acknowledgement (record metadata with its `offset`)."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> Awaitable[Any]: ...


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
) -> None:
    """Send `publications` and wait for their acknowledgements; then send the changelog
    records of `writes`, wait for theirs, and apply `writes` to their tables."""
    # Outputs first: on a cluster their partitions and the changelog's have different
    # leaders, and a crash between two landings must never leave a state that says an event
    # was applied without the outputs it made (a replay would skip it as a duplicate).
    await asyncio.gather(
        *[
            await producer.send(topic_name(item.topic), item.key, item.value, None, None, None)
            for item in publications
        ]
    )
    changelogs = [_changelog_of(write) for write in writes]
    done = await asyncio.gather(
        *[
            await producer.send(topic, write.key, write.value, write.partition, None, None)
            for topic, write in zip(changelogs, writes, strict=True)
        ]
    )
    by_table: dict[Any, list[ChangelogRecord]] = defaultdict(list)
    now = time.time()
    for topic, write, metadata in zip(changelogs, writes, done, strict=True):
        message = Message(
            topic=topic,
            partition=write.partition,
            offset=metadata.offset,
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


def _changelog_of(write: TableWrite) -> str:
    return cast(str, write.table.changelog_topic.get_topic_name())
