"""Producers with librdkafka's default partitioner (CRC32 of the key), as confluent-kafka,
kcat and most non-Java clients send: on the real broker, with two workers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from streamproc.domain.events import TOPIC_OF_INPUT, InputEvent
from streamproc.settings import Settings
from streamproc.streaming.codec import encode
from streamproc.streaming.partitioning import crc32_partition
from streamproc.streaming.topics import partition_for
from streamproc.worker_process import WorkerProcess
from tests.builders import at, demo, good_fit
from tests.integration.conftest import free_ports, two_workers, worker_settings
from tests.integration.kafka_io import (
    OutputCollector,
    new_lead,
    send_events,
    wait_until_processed,
)
from tests.integration.test_operations import fetch, partitions_read, scrape

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def send_with_librdkafka(settings: Settings, *events: InputEvent) -> list[tuple[str, int]]:
    """Produce with confluent-kafka's default partitioner, in order; where each landed."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "acks": "all"})
    landed: list[tuple[str, int]] = []
    failed: list[Any] = []

    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            failed.append(error)
        else:
            landed.append((message.key().decode(), message.partition()))

    for event in events:
        topic = settings.topic(TOPIC_OF_INPUT[type(event)])
        producer.produce(topic, encode(event), event.lead_id.encode(), on_delivery=delivered)
        producer.flush(30)  # one at a time: the lead's order across topics is kept
    assert not failed, failed
    return landed


def lead_where(partitions: int, fits: Any) -> str:
    """A new lead id whose (murmur2, CRC32) partitions satisfy `fits`."""
    while not fits(
        partition_for((lead := new_lead()).encode(), partitions),
        crc32_partition(lead.encode(), partitions),
    ):
        pass
    return lead


def same_outputs(collector: OutputCollector, lead: str) -> dict[str, list[dict[str, Any]]]:
    """A lead's outputs without its id, the ids derived from it and its inputs', and the rep
    (a round robin per partition)."""
    ids = {"event_id", "lead_id", "trigger_event_id", "cause_event_id", "rep_id"}
    return {
        topic: [{k: v for k, v in out.items() if k not in ids} for out in collector.of(lead, topic)]
        for topic in ("mql-crossed", "lead-stage-changes", "lead-routing", "dead-letters")
    }


async def test_a_lead_produced_by_crc32_is_processed_found_and_a_split_one_reported(
    kafka: str, tmp_path: Path
) -> None:
    first = worker_settings(kafka, tmp_path / "a", "acme")
    second = first.model_copy(update={"data_dir": tmp_path / "b", "web_port": free_ports(1)[0]})
    with two_workers(first, second, tmp_path) as (a, b):
        await _crc32_leads(a, b)
    b_log = (tmp_path / "b.log").read_text()
    assert "came in a partition other than murmur2 of their key" in b_log


async def _crc32_leads(a: WorkerProcess, b: WorkerProcess) -> None:
    partitions = a.settings.partitions
    owned_by_b = await partitions_read(b)
    # by CRC32: its murmur2 partition is A's, its CRC32 one B's, so only forwarding finds it
    by_crc32 = lead_where(partitions, lambda m, c: m not in owned_by_b and c in owned_by_b)
    by_murmur2 = new_lead()
    # half by each: both partitions are B's, which then holds both and can tell
    split = lead_where(partitions, lambda m, c: m != c and {m, c} <= owned_by_b)
    before = await scrape(b)
    collector = OutputCollector(a.settings)
    await collector.start()
    try:
        await send_events(a.settings, good_fit(by_murmur2, at()), demo(by_murmur2, at(0, 1)))
        landed = await asyncio.to_thread(
            send_with_librdkafka, a.settings, good_fit(by_crc32, at()), demo(by_crc32, at(0, 1))
        )
        assert landed == [(by_crc32, crc32_partition(by_crc32.encode(), partitions))] * 2
        await send_events(a.settings, good_fit(split, at()))
        await wait_until_processed(a.settings)  # its state is B's, in its murmur2 partition
        await asyncio.to_thread(send_with_librdkafka, a.settings, demo(split, at(0, 1)))
        await wait_until_processed(a.settings)
        await collector.wait_for(lambda: len(collector.of(by_crc32, "mql-crossed")) == 1)
        await collector.wait_for(lambda: len(collector.of(by_murmur2, "mql-crossed")) == 1)
        await asyncio.sleep(1)  # anything else they caused
        assert same_outputs(collector, by_crc32) == same_outputs(collector, by_murmur2)
    finally:
        await collector.stop()

    for worker in (a, b):  # each worker answers: B holds it, A forwards to B
        status, body = await fetch(worker, f"/leads/{by_crc32}/")
        assert status == 200, body
        assert orjson.loads(body)["stage"] == "mql"
    assert (await fetch(a, "/leads/lead-nobody-sent/"))[0] == 404

    after = await scrape(b)

    def moved(name: str, topic: str) -> float:
        key = (name, (("topic", topic),))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("streamproc_misrouted_events_total", "lead-profiles") == 1
    assert moved("streamproc_misrouted_events_total", "demo-bookings") == 2
    assert moved("streamproc_split_lead_events_total", "demo-bookings") == 1
    assert moved("streamproc_split_lead_events_total", "lead-profiles") == 0
    b_log = b.log.read_text()
    assert f"e.g. key {split} in demo-bookings, partitions " in b_log
