"""Latency at a fixed offered load: input produced -> its `lead-stage-changes` record read.

Probes are first profiles (with an email) of new leads: each makes exactly one visitor->lead
stage change whose `cause_event_id` is the probe's `event_id`. Either every offered event is
a probe, or one in `PROBE_EVERY` is and the rest is the throughput mix over the leads the
worker knows (fresh event ids, profiles that update), so that the load is the traffic whose
capacity the throughput phase measured. Latency is the output's receipt by a plain consumer
minus the probe's hand-over to the producer.

Probes are few because a new lead costs the worker 3-4 times an event of a known one: at one
in ten, and with every known lead sent a new first profile, the load at "half capacity"
was more than the worker's capacity for its first 10-15 seconds (per-batch CPU time logged
in a throwaway build), and the latency measured that backlog.

The load goes out every `TICK_S` as one Kafka batch per partition (`kafka_ops.Batches`), as
a producer lingering that long would: a record costs about 11 µs that way against 30 µs
through `send`, CPU that the bench would otherwise take from the worker on 2 cores.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from streamproc.bench.context import Bench
from streamproc.bench.kafka_ops import Batches, partitions_of, producer
from streamproc.bench.stats import by_second, rate, summarize_latencies
from streamproc.bench.workload import Message, encode_event, profile_fields
from streamproc.kafka_client import client_options
from streamproc.streaming.topics import INPUT_TOPICS
from streamproc.worker_process import WorkerProcess

PROBE_EVERY = 100
TICK_S = 0.002
"""How often the offered load is sent: what is due by then goes out at once."""
DRAIN_S = 15.0
"""How long to wait for the last outputs after the offered load ends."""


async def latency(
    bench: Bench,
    worker: WorkerProcess,
    offered_per_s: float,
    filler: list[Message] | None = None,
    label: str = "latency",
) -> dict[str, Any]:
    """Offer events at `offered_per_s` for the warm-up and then `latency_seconds`; figures of
    the probes sent after the warm-up, and apart those sent during it."""
    settings = worker.settings
    warmup_s = bench.options.latency_warmup_seconds
    seconds = warmup_s + bench.options.latency_seconds
    total = int(offered_per_s * seconds)
    consumer = AIOKafkaConsumer(
        **client_options(bench.cluster), enable_auto_commit=False, fetch_max_wait_ms=100
    )
    tps = partitions_of([settings.topic("lead-stage-changes")], settings.partitions)
    consumer.assign(tps)
    client = producer(bench.cluster, linger_ms=0)
    batches = Batches(client, settings.partitions)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    during_warmup: list[float] = []
    timeline: list[tuple[float, float]] = []
    started = time.perf_counter()

    async def collect() -> None:
        while True:
            fetched = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in fetched.values():
                for record in records:
                    cause = orjson.loads(record.value or b"{}").get("cause_event_id")
                    if (sent_at := sent.pop(cause, None)) is not None:
                        warm = sent_at - started < warmup_s
                        (during_warmup if warm else latencies).append(now - sent_at)
                        timeline.append((sent_at - started, now - sent_at))

    await consumer.start()
    await client.start()
    collector: asyncio.Task[None] | None = None
    probes = index = 0
    try:
        for name in INPUT_TOPICS:  # metadata first, or the first sends wait for it
            await client.partitions_for(settings.topic(name))
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        collector = asyncio.create_task(collect())
        kind = "probes only" if filler is None else f"the mix, 1 in {PROBE_EVERY} a probe"
        bench.say(
            label,
            f"offering {offered_per_s:,.0f} events/s ({kind}) for {seconds:g} s, "
            f"timed after {warmup_s:g} s",
        )
        rng, wall_ms = random.Random(bench.options.seed), round(time.time() * 1000)
        token = f"{wall_ms:x}"  # new leads each time: a known lead makes no stage change
        started = time.perf_counter()
        while index < total and time.perf_counter() - started < seconds + 5:
            due = min(total, int((time.perf_counter() - started) * offered_per_s) + 1)
            while index < due:
                if filler is None or index % PROBE_EVERY == 0:
                    lead, event_id = f"lat-{token}-{index:07d}", f"lat-ev-{token}-{index}"
                    at_ms = wall_ms + round((time.perf_counter() - started) * 1000)
                    value = encode_event(event_id, lead, at_ms, profile_fields(rng, lead))
                    sent[event_id] = time.perf_counter()
                    topic, key = "lead-profiles", lead.encode()
                    probes += 1
                else:
                    topic, key, value = filler[index % len(filler)]
                await batches.add(settings.topic(topic), key, value)
                index += 1
            await batches.flush()
            batches.forget_acknowledged()
            worker.check()
            await asyncio.sleep(TICK_S)
        offered_s = time.perf_counter() - started
        drain_until = time.perf_counter() + DRAIN_S
        while sent and time.perf_counter() < drain_until:
            await asyncio.sleep(0.1)
    finally:
        if collector:
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)
        await client.stop()
        await consumer.stop()
    summary, warmup = summarize_latencies(latencies), summarize_latencies(during_warmup)
    bench.say(
        label,
        f"{summary.count:,} outputs: p50 {summary.p50_ms:.1f} ms, p99 {summary.p99_ms:.1f} ms, "
        f"max {summary.max_ms:.1f} ms; {len(sent)} missing; during the warm-up p99 "
        f"{warmup.p99_ms:.1f} ms",
    )
    return {
        "load": "probes only" if filler is None else f"mix, 1 in {PROBE_EVERY} a probe",
        "offered_per_s": round(offered_per_s),
        "achieved_per_s": round(rate(index, offered_s)),
        "sent": index,
        "probes": probes,
        "missing": len(sent),
        **{key: round(value, 2) for key, value in summary.as_dict().items()},
        "warmup_s": warmup_s,
        "warmup": {key: round(value, 2) for key, value in warmup.as_dict().items()},
        "by_second": by_second(timeline),
    }
