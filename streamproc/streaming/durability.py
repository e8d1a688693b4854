"""`min.insync.replicas` of the topics the worker writes, chosen to match its `acks=all`.

The worker's producer waits for `acks=all`: every replica *in sync* has the record. With
`min.insync.replicas` 1 that may be the leader alone, so an output acknowledged that way can
be lost with its broker, while the changelog record of the state that produced it (another
partition, often another broker) survives. The recovered state then says the event was
applied, and no replay publishes the lost output again. With 2, an acknowledged record is on
two brokers; a partition with one replica in sync refuses writes (the worker waits, then
stops: `ingest.ACK_TIMEOUT_S`) rather than take a record it could lose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamproc.kafka_client import client_options
from streamproc.settings import Settings

MIN_INSYNC_REPLICAS = "min.insync.replicas"
DURABLE_MIN_INSYNC = 2


def durable_configs(replication: int) -> dict[str, str]:
    """Topic configs for a topic the worker creates with `replication` replicas:
    `min.insync.replicas` 2 when there are 2 or more (the broker's default otherwise: a
    single replica cannot have two in sync)."""
    if replication >= DURABLE_MIN_INSYNC:
        return {MIN_INSYNC_REPLICAS: str(DURABLE_MIN_INSYNC)}
    return {}


@dataclass(frozen=True)
class TopicDurability:
    """What the cluster says of one topic: its replication and `min.insync.replicas`."""

    topic: str
    replication: int
    min_insync: int | None
    """None when the broker did not say (the topic vanished, or no right to describe it)."""

    @property
    def weak(self) -> bool:
        """Replicated, yet a write is acknowledged by one replica alone."""
        return self.replication > 1 and self.min_insync is not None and self.min_insync < 2


def weak_durability_warning(described: Sequence[TopicDurability]) -> str | None:
    """One line naming each replicated topic that takes writes on one replica, or None."""
    weak = [item for item in described if item.weak]
    if not weak:
        return None
    topics = ", ".join(
        f"{item.topic} (replication {item.replication}, {MIN_INSYNC_REPLICAS} {item.min_insync})"
        for item in sorted(weak, key=lambda item: item.topic)
    )
    return (
        f"topics with replicas that acknowledge a write on one of them: {topics}; an "
        "acknowledged output could be lost with its broker while the state that produced it "
        f"survives. Set {MIN_INSYNC_REPLICAS}={DURABLE_MIN_INSYNC} on them "
        "(kafka-configs --alter --entity-type topics --add-config ...)"
    )


class Admin(Protocol):
    """The part of aiokafka's admin client used here."""

    async def list_topics(self) -> list[str]: ...

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]: ...

    async def describe_configs(self, config_resources: list[ConfigResource]) -> list[Any]: ...


async def describe_durability(admin: Admin, topics: Sequence[str]) -> list[TopicDurability]:
    """Replication and effective `min.insync.replicas` (the topic's own, or the broker's
    default) of each of `topics` that exists. Only existing topics are described: a
    metadata request for a missing one makes a broker with `auto.create.topics.enable`
    create it, with its defaults (a changelog Faust would create compacted, not)."""
    existing = set(await admin.list_topics())
    present = [name for name in topics if name in existing]
    if not present:
        return []
    described = await admin.describe_topics(present)
    replication = {
        item["topic"]: max((len(p["replicas"]) for p in item["partitions"]), default=0)
        for item in described
        if item.get("error_code", 0) == 0 and item["partitions"]
    }
    if not replication:
        return []
    responses = await admin.describe_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, name, configs={MIN_INSYNC_REPLICAS: None})
            for name in sorted(replication)
        ]
    )
    min_insync: dict[str, int] = {}
    for response in responses:
        for error_code, _message, _type, name, entries in (
            resource[:5] for resource in response.resources
        ):
            if error_code != 0:
                continue
            for entry in entries:
                if entry[0] == MIN_INSYNC_REPLICAS and entry[1] is not None:
                    min_insync[name] = int(entry[1])
    return [
        TopicDurability(name, replicas, min_insync.get(name))
        for name, replicas in sorted(replication.items())
    ]


async def durability_warning(settings: Settings, topics: Sequence[str]) -> str | None:
    """The warning for those of `topics` (full names) that exist and are weak, or None."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        return weak_durability_warning(await describe_durability(admin, topics))
    finally:
        await admin.close()
