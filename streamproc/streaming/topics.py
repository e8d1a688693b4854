"""Topic names and their creation with the configured partition count."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from streamproc.domain.events import (
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    LeadErased,
    LeadRouted,
    MqlCrossed,
    OutputEvent,
    SlaBreached,
    StageChanged,
)
from streamproc.kafka_client import client_options
from streamproc.settings import Settings
from streamproc.streaming.codec import TICKS_TOPIC
from streamproc.streaming.durability import durable_configs

INPUT_TOPICS = tuple(INPUT_EVENTS)
CONSUMED_TOPICS = (*INPUT_TOPICS, TICKS_TOPIC)
"""What the worker reads: the inputs and the timer's ticks, all co-partitioned."""
OUTPUT_TOPICS = tuple(OUTPUT_EVENTS)
TOPIC_OF: dict[type[OutputEvent], str] = {
    MqlCrossed: "mql-crossed",
    StageChanged: "lead-stage-changes",
    SlaBreached: "sla-breaches",
    LeadRouted: "lead-routing",
    LeadErased: "lead-erased",
}
"""The topic (without prefix) that each kind of output of the live definition goes to."""


class TopicError(Exception):
    """The cluster's topics do not fit streamproc's contract (e.g. not co-partitioned)."""


async def ensure_topics(settings: Settings) -> None:
    """Create every input and output topic that is missing, with `settings.partitions` and
    `settings.replication` (and then `min.insync.replicas` 2: `durability`).

    Input topics (and the internal `sla-ticks`) must all have the same partition count: a
    lead's events must land in the partition of one worker, together with its state.
    """
    names = [settings.topic(name) for name in (*CONSUMED_TOPICS, *OUTPUT_TOPICS)]
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name,
                        settings.partitions,
                        settings.replication,
                        topic_configs=durable_configs(settings.replication),
                    )
                    for name in missing
                ]
            )
        inputs = [settings.topic(name) for name in CONSUMED_TOPICS]
        counts = await partition_counts(admin, inputs)
        if len(set(counts.values())) > 1:
            raise TopicError(
                "input topics are not co-partitioned: "
                + ", ".join(f"{name} has {count}" for name, count in sorted(counts.items()))
                + "; give them all the same partition count"
            )
    finally:
        await admin.close()


CREATED_WITHIN_S = 10.0
"""How long a topic just created may still show no partitions."""


async def partition_counts(
    admin: AIOKafkaAdminClient, names: list[str], within_s: float = CREATED_WITHIN_S
) -> dict[str, int]:
    """Each topic's partition count. A topic created a moment ago (by us, or by a producer
    with auto-creation) may show none until the broker's metadata has it: such counts are
    asked again, for up to `within_s`, rather than reported as a mismatch."""
    deadline = time.monotonic() + within_s
    while True:
        described = await admin.describe_topics(names)
        counts = {item["topic"]: len(item["partitions"]) for item in described}
        if all(counts.values()) or time.monotonic() >= deadline:
            return counts
        await asyncio.sleep(0.1)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (and aiokafka's) gives a key: murmur2. A
    lead's events all land in the partition of its id, whose worker owns the lead."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions
