"""Producers that do not partition as Kafka's Java client does, and the leads they split.

The contract puts a lead's events in the partition of murmur2(lead id), as Kafka's Java
client and aiokafka do. librdkafka's default partitioner (`consistent_random`: CRC32 of the
key; confluent-kafka, kcat, most non-Java clients) puts most keys elsewhere. The worker
applies a record in the partition it arrives in and keeps the lead's state there, so a lead
whose events all come by CRC32 is processed like any other; `GET /leads/{id}/` finds it by
looking in its murmur2 partition and then its CRC32 one (`candidate_partitions`). A lead
whose events come by both is kept in two partitions: while one worker owns both, their
events meet in one state (the store is looked up by key), but once they belong to two
workers each scores part of the lead's events.

`PartitionCheck` looks at each batch before it is applied: it counts the records that came
in a partition other than their key's murmur2 one ("misrouted"), and the records of a lead
that arrives in two partitions of the batch, or whose state this worker holds in a partition
other than the record's ("split"). It logs a line per batch at most, naming topic and key
(a lead id, not personal data). A worker sees a split only when it holds both partitions:
see docs/operations.md.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamproc.streaming.lead_batch import Record
from streamproc.streaming.topics import partition_for

log = logging.getLogger(__name__)

KEYS_KEPT = 16_384
"""Keys whose murmur2 partition is kept (murmur2 in Python costs far more than a dict
lookup, and a lead's records come in many batches), and split leads remembered as reported;
past it, all are forgotten at once."""
MISROUTED_LOG_EVERY_S = 60.0
"""A producer with another partitioner sends a flood of such records: one line per minute
says how many came since the last, naming the first of the batch."""
LOGGED_KEY_CHARS = 80


def crc32_partition(key: bytes, partitions: int) -> int:
    """The partition librdkafka's default partitioner (`consistent_random`) gives a key."""
    return zlib.crc32(key) % partitions


def candidate_partitions(key: bytes, partitions: int) -> tuple[int, ...]:
    """Where a lead's state may be: its murmur2 partition (the contract's), then its CRC32
    one (librdkafka's default), when that differs."""
    murmur2 = partition_for(key, partitions)
    crc32 = crc32_partition(key, partitions)
    return (murmur2,) if crc32 == murmur2 else (murmur2, crc32)


HeldElsewhere = Callable[[bytes, int, int], "int | None"]
"""(key, partition of its records, its murmur2 partition) -> another partition in which the
worker's store holds the key, or None."""


def held_elsewhere(table: Any, partitions: int) -> HeldElsewhere:
    """How to ask this worker's store of `table` where else it holds a key. Faust's memory://
    store remembers the partition of each key's newest write; rocksdb:// has a database per
    partition, of which the key's murmur2 and CRC32 ones are asked (a read each). Any other
    store (a test's dict) answers None."""
    store = getattr(table, "data", None)
    newest: dict[bytes, int] | None = getattr(store, "_key_partition", None)
    databases: dict[int, Any] | None = getattr(store, "_dbs", None)
    if newest is not None:
        newest_of = newest.get

        def in_memory(key: bytes, partition: int, murmur2: int) -> int | None:
            found = newest_of(key)
            return found if found is not None and found != partition else None

        return in_memory
    if databases is not None:
        held = databases

        def in_rocksdb(key: bytes, partition: int, murmur2: int) -> int | None:
            for other in (murmur2, crc32_partition(key, partitions)):
                database = held.get(other)
                if other != partition and database is not None and database.get(key) is not None:
                    return other
            return None

        return in_rocksdb
    return lambda key, partition, murmur2: None


def held_in_memory(table: Any) -> bool:
    """Whether asking `table`'s store where a key is held costs no read (memory://)."""
    return getattr(getattr(table, "data", None), "_key_partition", None) is not None


def shown(key: bytes) -> str:
    """A key for a log line: text, cut short (a hostile key may be long)."""
    text = key.decode(errors="replace")
    return text if len(text) <= LOGGED_KEY_CHARS else f"{text[:LOGGED_KEY_CHARS]}..."


@dataclass
class PartitionReport:
    """A batch's records, per topic without the prefix, that came outside their key's
    murmur2 partition (`misrouted`) or belong to a lead found in two partitions (`split`)."""

    misrouted: Counter[str] = field(default_factory=Counter)
    split: Counter[str] = field(default_factory=Counter)


class PartitionCheck:
    """Checks each batch's input records against murmur2 and the worker's lead table."""

    def __init__(
        self, partitions: int, topics: Collection[str], prefix_length: int, lead_states: Any
    ) -> None:
        self._partitions = partitions
        self._topics = frozenset(topics)
        """Full names of the topics checked: the inputs (the timer's ticks go to the
        partition of the lead's state, wherever it is)."""
        self._prefix_length = prefix_length
        self._lead_states = lead_states
        self._murmur2: dict[bytes, int] = {}
        self._reported_split: set[bytes] = set()
        self._seen_misrouted: set[bytes] = set()
        """Keys that came outside their murmur2 partition since the worker started: only
        their records are looked for in another partition of the table."""
        self._misrouted_since_line = 0
        self._misrouted_line_at = -MISROUTED_LOG_EVERY_S

    def _remember_misrouted(self, key: bytes) -> None:
        if len(self._seen_misrouted) >= KEYS_KEPT:
            self._seen_misrouted.clear()
        self._seen_misrouted.add(key)

    def murmur2(self, key: bytes) -> int:
        found = self._murmur2.get(key)
        if found is None:
            if len(self._murmur2) >= KEYS_KEPT:
                self._murmur2.clear()
            found = self._murmur2[key] = partition_for(key, self._partitions)
        return found

    def check(self, records: Sequence[Record]) -> PartitionReport:
        """Count and log the batch's misrouted records and split leads; before the batch is
        applied (the table then holds what earlier batches wrote)."""
        topics, prefix, murmur2_of = self._topics, self._prefix_length, self._murmur2.get
        report = PartitionReport()
        first_misrouted: tuple[bytes, int, str] | None = None
        arrived_in: dict[bytes, int] = {}
        """Each key's partition of its first record in the batch, and its murmur2 one."""
        murmur2s: dict[bytes, int] = {}
        split: dict[bytes, set[int]] = {}
        for record in records:
            key = record.key
            if not key or record.topic not in topics:
                continue
            partition = record.partition
            murmur2 = murmur2_of(key)
            if murmur2 is None:
                murmur2 = self.murmur2(key)
            if partition != murmur2:
                topic = record.topic[prefix:]
                report.misrouted[topic] += 1
                first_misrouted = first_misrouted or (key, partition, topic)
            first = arrived_in.setdefault(key, partition)
            if first != partition:
                split.setdefault(key, {first}).add(partition)
            murmur2s[key] = murmur2
        held = held_elsewhere(self._lead_states, self._partitions)
        reads_cheaply = held_in_memory(self._lead_states)
        for key, partition in arrived_in.items():
            if partition != murmur2s[key]:
                self._remember_misrouted(key)
            # With rocksdb:// a look is a read per partition asked: only a key that came
            # outside its murmur2 partition since the worker started is looked for.
            seen = partition != murmur2s[key] or key in self._seen_misrouted
            if key in split or not (reads_cheaply or seen):
                continue
            elsewhere = held(key, partition, murmur2s[key])
            if elsewhere is not None:
                split[key] = {partition, elsewhere}
        if split:
            for record in records:
                if record.key in split and record.topic in topics:
                    report.split[record.topic[prefix:]] += 1
            self._log_split(split, records)
        if first_misrouted is not None:
            self._log_misrouted(first_misrouted, sum(report.misrouted.values()))
        return report

    def _log_misrouted(self, first: tuple[bytes, int, str], count: int) -> None:
        self._misrouted_since_line += count
        now = time.monotonic()
        if now - self._misrouted_line_at < MISROUTED_LOG_EVERY_S:
            return
        key, partition, topic = first
        log.warning(
            "%d records came in a partition other than murmur2 of their key since the last "
            "such line, e.g. key %s in %s[%d] (murmur2: %d, CRC32: %d): a producer does not "
            "partition as Kafka's Java client does (librdkafka's default is CRC32)",
            self._misrouted_since_line,
            shown(key),
            topic,
            partition,
            self.murmur2(key),
            crc32_partition(key, self._partitions),
            extra={"topic": topic, "partition": partition},
        )
        self._misrouted_since_line, self._misrouted_line_at = 0, now

    def _log_split(self, split: dict[bytes, set[int]], records: Sequence[Record]) -> None:
        """One line per batch, for the leads not reported before."""
        new = [key for key in split if key not in self._reported_split]
        if not new:
            return
        if len(self._reported_split) + len(new) > KEYS_KEPT:
            self._reported_split.clear()
        self._reported_split.update(new)
        key = new[0]
        topic = next(r.topic for r in records if r.key == key)[self._prefix_length :]
        log.warning(
            "%d leads of the batch came in two partitions, e.g. key %s in %s, partitions %s: "
            "its producers partition differently (murmur2 and CRC32?), and workers that own "
            "those partitions each keep a state of the lead",
            len(new),
            shown(key),
            topic,
            " and ".join(str(partition) for partition in sorted(split[key])),
            extra={"topic": topic},
        )
