"""The raw ceiling: plain aiokafka reads the input topics and writes one small record per input.

Per record it parses the JSON value and writes `{"event_id": ...}` keyed like the input to an
output topic with the same partitions (acks=1, 5 ms linger): the least any consume -> process
-> produce pipeline does. Events/s count from the first record read to the last write acked.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from streamproc.bench.context import Bench
from streamproc.bench.kafka_ops import (
    PROGRESS_EVERY,
    Progress,
    create_topics,
    partitions_of,
    producer,
)
from streamproc.bench.stats import rate
from streamproc.bench.workload import Message
from streamproc.kafka_client import client_options
from streamproc.settings import Settings
from streamproc.streaming.topics import INPUT_TOPICS, ensure_topics


async def raw_ceiling(
    cluster: Settings,
    inputs: list[str],
    output: str,
    partitions: int,
    total: int,
    timeout: float,
    progress: Progress,
) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        **client_options(cluster), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    tps = partitions_of(inputs, partitions)
    consumer.assign(tps)
    client = producer(cluster)
    await consumer.start()
    await client.start()
    pending: list[asyncio.Future[Any]] = []
    count, first = 0, None
    started = last_report = time.perf_counter()
    try:
        await consumer.seek_to_beginning(*tps)
        while count < total and time.perf_counter() - started < timeout:
            batches = await consumer.getmany(timeout_ms=500)
            if first is None and batches:
                first = time.perf_counter()
            for records in batches.values():
                for record in records:
                    event = orjson.loads(record.value) if record.value else {}
                    value = orjson.dumps({"event_id": event.get("event_id")})
                    pending.append(await client.send(output, value, key=record.key))
                    count += 1
            pending = [future for future in pending if not future.done()]
            if time.perf_counter() - last_report > PROGRESS_EVERY:
                last_report = time.perf_counter()
                progress(f"{count:,}/{total:,} passed through")
        await asyncio.gather(*pending)
        seconds = time.perf_counter() - (first or started)
    finally:
        await client.stop()
        await consumer.stop()
    return {
        "events": count,
        "complete": count >= total,
        "seconds": round(seconds, 3),
        "events_per_s": round(rate(count, seconds)),
    }


async def raw_phase(bench: Bench, messages: list[Message]) -> dict[str, Any]:
    """Produce the workload to fresh topics, then pass it through `raw_ceiling`."""
    settings = bench.settings("raw")
    await ensure_topics(settings)
    output = settings.topic("raw-out")
    await create_topics(bench.cluster, [output], settings.partitions)
    produced = await bench.produce("raw", settings, messages)
    inputs = [settings.topic(name) for name in INPUT_TOPICS]
    figures = await raw_ceiling(
        bench.cluster,
        inputs,
        output,
        settings.partitions,
        len(messages),
        bench.options.timeout,
        bench.progress("raw"),
    )
    bench.say(
        "raw",
        f"{figures['events']:,} events in {figures['seconds']} s: {figures['events_per_s']:,}/s",
    )
    return {"produce": produced, **figures}
