"""A history read from the input topics of a Kafka cluster, from a moment up to now.

Each topic partition is read in its own order and the partitions are merged by event time,
so a partition with a long backlog cannot run ahead of the others. Reading stops at the end
offsets seen when it started: a backtest of a live cluster is a snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from datetime import datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamproc.backtest.sources import ReadProgress, SourceError, merged
from streamproc.domain.events import InputEvent
from streamproc.domain.state import to_ms
from streamproc.kafka_client import KafkaAccessError, check_connection, client_options
from streamproc.settings import Settings
from streamproc.streaming.codec import InputError, decode_input
from streamproc.streaming.topics import INPUT_TOPICS

BATCH = 2_000
PATIENCE = 10
"""Empty fetches in a row (2 s each) before a partition that stops short is an error."""
PARTITION_REORDER_BUFFER = 1_000
"""Within a partition events arrive nearly in time order: a small buffer suffices."""
T = TypeVar("T")


class _Reader:
    """One consumer driven from synchronous code on a private event loop: aiokafka binds its
    objects to the loop running when they are made, so everything runs inside `run`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.consumer: AIOKafkaConsumer | None = None

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    async def open(self, since: datetime | None) -> dict[TopicPartition, tuple[int, int]]:
        """Assign every input partition; for each, the offsets to read from and up to."""
        try:
            await check_connection(self.settings)
        except KafkaAccessError as error:
            raise SourceError(str(error)) from None
        partitions = await self._input_partitions()
        consumer = AIOKafkaConsumer(**client_options(self.settings), enable_auto_commit=False)
        self.consumer = consumer
        await consumer.start()
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        if since is not None:
            found = await consumer.offsets_for_times({tp: to_ms(since) for tp in partitions})
            starts = {tp: (hit.offset if hit else ends[tp]) for tp, hit in found.items()}
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        return {tp: (starts[tp], ends[tp]) for tp in partitions}

    async def _input_partitions(self) -> list[TopicPartition]:
        admin = AIOKafkaAdminClient(**client_options(self.settings))
        await admin.start()
        try:
            names = [self.settings.topic(name) for name in INPUT_TOPICS]
            missing = sorted(set(names) - set(await admin.list_topics()))
            if missing:
                raise SourceError(f"no topic {', '.join(missing)} at {self.settings.broker}")
            described = await admin.describe_topics(names)
        finally:
            await admin.close()
        return [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            for partition in topic["partitions"]
        ]

    async def _batch(self, tp: TopicPartition) -> list[Any]:
        assert self.consumer is not None
        batch = await self.consumer.getmany(tp, timeout_ms=2000, max_records=BATCH)
        records: list[Any] = batch.get(tp, [])
        return records

    def partition(
        self, tp: TopicPartition, end: int, progress: ReadProgress
    ) -> Iterator[InputEvent]:
        """The events of one partition up to offset `end`, in the partition's order."""
        topic = tp.topic.removeprefix(self.settings.topic_prefix)
        empty = 0
        while True:
            records = self.run(self._batch(tp))
            empty = 0 if records else empty + 1
            if empty > PATIENCE:
                raise SourceError(f"{tp.topic}[{tp.partition}] sent nothing before offset {end}")
            for record in records:
                if record.offset >= end:
                    return
                progress.done += 1
                try:
                    yield decode_input(topic, record.key, record.value)  # type: ignore[misc]
                except InputError:
                    progress.invalid += 1  # the worker dead-lettered it; it changed no lead
                if record.offset >= end - 1:
                    return

    def close(self) -> None:
        if self.consumer is not None:
            self.run(self.consumer.stop())
        self.loop.close()


def read_topics(
    settings: Settings, since: datetime | None = None
) -> tuple[Iterator[InputEvent], ReadProgress]:
    """The input topics of `settings`' cluster (with its topic prefix) from `since` (or the
    beginning) to their current end, in event-time order, and progress in messages."""
    reader = _Reader(settings)
    try:
        ranges = reader.run(reader.open(since))
    except BaseException:
        reader.close()
        raise
    progress = ReadProgress(
        total=sum(end - start for start, end in ranges.values()), unit="messages"
    )

    def events() -> Iterator[InputEvent]:
        try:
            partitions = [
                reader.partition(tp, end, progress)
                for tp, (start, end) in ranges.items()
                if end > start
            ]
            yield from merged(partitions, buffer=PARTITION_REORDER_BUFFER)
        finally:
            reader.close()

    return events(), progress
