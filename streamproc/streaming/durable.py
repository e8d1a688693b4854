"""Making a batch durable: its outputs and changelog records acknowledged, then stored.

The batch's records go to the producer together: outputs to their topics, each table write
to its table's changelog partition. Only when the broker has acknowledged every one of them
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
    """Send `publications` and the changelog records of `writes`, wait for every
    acknowledgement, then apply `writes` to their tables."""
    acks = [
        await producer.send(topic_name(item.topic), item.key, item.value, None, None, None)
        for item in publications
    ]
    changelog = [
        (write, await producer.send(_changelog_of(write), *_record(write), None, None))
        for write in writes
    ]
    done = await asyncio.gather(*acks, *(ack for _, ack in changelog))
    by_table: dict[Any, list[ChangelogRecord]] = defaultdict(list)
    now = time.time()
    for (write, _), metadata in zip(changelog, done[len(acks) :], strict=True):
        topic = _changelog_of(write)
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


def _record(write: TableWrite) -> tuple[bytes, bytes | None, int]:
    return write.key, write.value, write.partition


def _changelog_of(write: TableWrite) -> str:
    return cast(str, write.table.changelog_topic.get_topic_name())
