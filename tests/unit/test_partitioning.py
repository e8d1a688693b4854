"""Records outside their key's murmur2 partition, and leads seen in two partitions."""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from streamproc.streaming.metrics import Metrics
from streamproc.streaming.partitioning import (
    PartitionCheck,
    candidate_partitions,
    crc32_partition,
)
from streamproc.streaming.topics import partition_for

PARTITIONS = 4
PREFIX = "it."


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    key: bytes | None
    offset: int = 0
    value: bytes | None = b"{}"


def keys_apart(count: int) -> list[bytes]:
    """Keys whose CRC32 partition is not their murmur2 one."""
    found = []
    for i in range(1000):
        key = f"lead-{i}".encode()
        if crc32_partition(key, PARTITIONS) != partition_for(key, PARTITIONS):
            found.append(key)
    return found[:count]


def murmur2(key: bytes) -> int:
    return partition_for(key, PARTITIONS)


def crc32(key: bytes) -> int:
    return crc32_partition(key, PARTITIONS)


def memory_table(held: dict[bytes, int] | None = None) -> Any:
    """A table on Faust's memory:// store: it remembers each key's newest partition."""
    return SimpleNamespace(data=SimpleNamespace(_key_partition=dict(held or {})))


def check(table: Any = None) -> PartitionCheck:
    topics = [f"{PREFIX}page-visits", f"{PREFIX}downloads"]
    return PartitionCheck(PARTITIONS, topics, len(PREFIX), table or memory_table())


def test_crc32_is_librdkafkas_consistent_partitioner() -> None:
    # rd_kafka_msg_partitioner_consistent: rd_crc32(key) % partition count.
    assert crc32_partition(b"lead-42", 7) == zlib.crc32(b"lead-42") % 7
    key = keys_apart(1)[0]
    assert candidate_partitions(key, PARTITIONS) == (murmur2(key), crc32(key))
    same = next(
        f"k{i}".encode()
        for i in range(1000)
        if crc32_partition(f"k{i}".encode(), 4) == partition_for(f"k{i}".encode(), 4)
    )
    assert candidate_partitions(same, PARTITIONS) == (partition_for(same, 4),)


def test_records_outside_murmur2s_partition_are_counted_per_topic() -> None:
    a, b = keys_apart(2)
    report = check().check(
        [
            Rec(f"{PREFIX}page-visits", crc32(a), a),
            Rec(f"{PREFIX}page-visits", crc32(a), a),
            Rec(f"{PREFIX}downloads", crc32(b), b),
            Rec(f"{PREFIX}downloads", murmur2(b), b),
            Rec(f"{PREFIX}page-visits", 0, None),  # no key: nothing to check
            Rec(f"{PREFIX}sla-ticks", crc32(a), a),  # ticks go where the state is
        ]
    )
    assert report.misrouted == Counter({"page-visits": 2, "downloads": 1})
    assert report.split == Counter({"downloads": 2})  # b came in two partitions


def test_a_lead_all_of_whose_events_came_by_crc32_is_not_split() -> None:
    [a] = keys_apart(1)
    table = memory_table({a: crc32(a)})
    report = check(table).check([Rec(f"{PREFIX}page-visits", crc32(a), a)])
    assert report.misrouted == Counter({"page-visits": 1})
    assert not report.split


@pytest.mark.parametrize("came_first", ["murmur2", "crc32"])
def test_a_lead_held_in_another_partition_of_the_worker_is_split(came_first: str) -> None:
    [a] = keys_apart(1)
    held, now = (murmur2(a), crc32(a)) if came_first == "murmur2" else (crc32(a), murmur2(a))
    report = check(memory_table({a: held})).check([Rec(f"{PREFIX}downloads", now, a)])
    assert report.split == Counter({"downloads": 1})


def test_on_rocksdb_the_other_candidate_partitions_database_is_asked() -> None:
    [a] = keys_apart(1)
    databases = {murmur2(a): {a: b"{}"}, crc32(a): {}}
    table = SimpleNamespace(data=SimpleNamespace(_dbs=databases))
    report = check(table).check([Rec(f"{PREFIX}downloads", crc32(a), a)])
    assert report.split == Counter({"downloads": 1})
    databases[murmur2(a)] = {}
    assert not check(table).check([Rec(f"{PREFIX}downloads", crc32(a), a)]).split


def test_a_store_that_cannot_say_finds_no_split() -> None:
    [a] = keys_apart(1)
    report = check({a: b"{}"}).check([Rec(f"{PREFIX}downloads", crc32(a), a)])
    assert not report.split


def test_a_flood_logs_a_line_a_minute_and_a_split_lead_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = keys_apart(2)
    checker = check(memory_table({b: murmur2(b)}))
    flood = [Rec(f"{PREFIX}page-visits", crc32(a), a)] * 1000
    split = [Rec(f"{PREFIX}downloads", crc32(b), b)]
    with caplog.at_level(logging.WARNING, "streamproc.streaming.partitioning"):
        for _ in range(5):
            checker.check(flood + split)
    lines = [record.getMessage() for record in caplog.records]
    [misrouted] = [line for line in lines if "murmur2 of their key" in line]
    assert misrouted.startswith("1001 records")
    assert f"key {a.decode()} in page-visits[{crc32(a)}]" in misrouted
    [split_line] = [line for line in lines if "two partitions" in line]
    assert f"key {b.decode()} in downloads" in split_line
    assert f"partitions {min(murmur2(b), crc32(b))} and {max(murmur2(b), crc32(b))}" in split_line


def test_a_long_key_is_cut_short_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    key = b"x" * 10_000
    partition = (partition_for(key, PARTITIONS) + 1) % PARTITIONS
    with caplog.at_level(logging.WARNING, "streamproc.streaming.partitioning"):
        check().check([Rec(f"{PREFIX}page-visits", partition, key)])
    [line] = [record.getMessage() for record in caplog.records]
    assert len(line) < 500


def test_the_counts_reach_the_metrics() -> None:
    metrics = Metrics("acme@1")
    metrics.partitions_checked(Counter({"page-visits": 3}), Counter({"downloads": 2}))
    sample = metrics.registry.get_sample_value
    assert sample("streamproc_misrouted_events_total", {"topic": "page-visits"}) == 3
    assert sample("streamproc_split_lead_events_total", {"topic": "downloads"}) == 2
    assert sample("streamproc_split_lead_events_total", {"topic": "page-visits"}) == 0


def test_with_rocksdb_only_leads_seen_outside_their_partition_cost_a_store_read() -> None:
    [a, b] = keys_apart(2)
    reads: list[bytes] = []

    class Database:
        def get(self, key: bytes) -> bytes | None:
            reads.append(key)
            return None

    databases = {partition: Database() for partition in range(PARTITIONS)}
    table = SimpleNamespace(data=SimpleNamespace(_dbs=databases))
    checking = check(table)
    checking.check([Rec(f"{PREFIX}downloads", murmur2(a), a)])
    assert reads == []  # in its murmur2 partition, never seen elsewhere: no read
    checking.check([Rec(f"{PREFIX}downloads", crc32(b), b)])
    checking.check([Rec(f"{PREFIX}downloads", murmur2(b), b)])
    assert set(reads) == {b}  # seen outside once: looked for from then on
