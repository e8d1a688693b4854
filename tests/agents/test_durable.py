"""Sending a batch's records in whole Kafka batches: order kept, each record's offset known."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaTimeoutError

from streamproc.streaming.durable import Outgoing, send_in_batches
from tests.agents.conftest import CapturingProducer


async def test_each_record_gets_its_own_offset_in_its_partition_in_the_order_sent() -> None:
    producer = CapturingProducer(batch_room=3)
    records = [Outgoing("t", n % 2, f"k{n}".encode(), f"v{n}".encode()) for n in range(9)]
    records.insert(4, Outgoing("u", 0, b"other", b"topic"))
    offsets = await send_in_batches(producer, records)
    # Partition 0 of t got k0 k2 k4 k6 k8 (two batches), partition 1 k1 k3 k5 k7, u one.
    by_key = {record.key: offset for record, offset in zip(records, offsets, strict=True)}
    assert [by_key[f"k{n}".encode()] for n in (0, 2, 4, 6, 8)] == [0, 1, 2, 3, 4]
    assert [by_key[f"k{n}".encode()] for n in (1, 3, 5, 7)] == [0, 1, 2, 3]
    assert by_key[b"other"] == 0
    in_partition_0 = [key for topic, key, _, part in producer.sent if (topic, part) == ("t", 0)]
    assert in_partition_0 == [b"k0", b"k2", b"k4", b"k6", b"k8"]


async def test_a_batch_the_broker_does_not_acknowledge_fails_the_whole_send() -> None:
    producer = CapturingProducer(failure=KafkaTimeoutError())
    with pytest.raises(KafkaTimeoutError):
        await send_in_batches(producer, [Outgoing("t", 0, b"k", b"v")])
