"""Scaling out: two worker processes on the same topics split the partitions.

Both start together on the same backlog as the one-worker phase; the second joins while the
first is reading, so the backlog crosses a rebalance. The figures: events/s of the pair beside
one worker's, and, against the one-worker run's outputs, leads lost and outputs doubled.

The oracle for lost events is the leads identified (made `lead` by their first profile), which
does not depend on the order a lead's events are read in. MQL crossings are compared too, and
reported: the loop reads in timestamp order (`streaming/read_ahead.py`), so two workers publish
the same crossings as one, but the bench stamps many records in the same millisecond, and a tie
may order two of a lead's events differently. (Before the loop read in timestamp order, 9-42
of about 2,400 crossings differed in every run.)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson

from streamproc.bench.context import Bench, free_ports
from streamproc.bench.kafka_ops import partitions_of, read_to_end, wait_committed
from streamproc.bench.phases import READY_TIMEOUT, throughput_figures
from streamproc.bench.procs import start_and_wait_ready
from streamproc.bench.workload import Workload
from streamproc.settings import Settings
from streamproc.streaming.ingest import worker_groups
from streamproc.streaming.topics import ensure_topics
from streamproc.worker_process import WorkerProcess

Published = list[tuple[str, dict[str, Any]]]
"""(topic, output) of every MQL crossing and stage change of a run."""


async def scale_out(bench: Bench, workload: Workload, alone: Published) -> dict[str, Any]:
    """Two workers on the workload; compared with what one worker published (`alone`)."""
    phase = "scaleout"
    settings = bench.settings(phase)
    await ensure_topics(settings)
    produced = await bench.produce(phase, settings, workload.messages)
    second = settings.model_copy(
        update={"data_dir": settings.data_dir / "second", "web_port": free_ports(1)[0]}
    )
    workers = [
        bench.children.add(WorkerProcess(settings, settings.data_dir / "worker-1.log")),
        bench.children.add(WorkerProcess(second, settings.data_dir / "worker-2.log")),
    ]
    ends = await bench.input_ends(settings)
    try:
        (started, ready_s), _ = await asyncio.gather(
            *(start_and_wait_ready(worker, READY_TIMEOUT) for worker in workers)
        )
        bench.say(phase, f"first ready {ready_s:.1f} s after start; both consuming")

        def check() -> None:
            for worker in workers:
                worker.check()

        wait = await wait_committed(
            bench.cluster,
            worker_groups(settings),
            ends,
            bench.options.timeout,
            check,
            bench.progress(phase),
            started=started + ready_s,
        )
        await asyncio.sleep(1.0)  # outputs of the last batches
    finally:
        for worker in workers:
            bench.children.stop(worker)
    figures = throughput_figures(wait, ready_s)
    here = await published(bench, settings)
    identified = _identified(here)
    lost = sorted(_identified(alone) - identified)
    ids = Counter(output["event_id"] for _, output in here)
    doubled = sum(count - 1 for count in ids.values() if count > 1)
    crossed, crossed_alone = _crossings(here), _crossings(alone)
    bench.say(
        phase,
        f"all {wait.committed:,} committed in {wait.seconds:.1f} s after ready "
        f"({figures['committed_before_ready']:,} before): {figures['events_per_s']:,}/s; "
        f"leads identified {len(identified):,}, "
        f"{len(lost)} lost vs one worker; {doubled} outputs doubled; MQL crossings "
        f"{len(crossed):,} (one worker {len(crossed_alone):,}, "
        f"{len(crossed ^ crossed_alone)} differ)",
    )
    figures.update(
        produce=produced,
        workers=len(workers),
        leads_identified=len(identified),
        leads_identified_lost=len(lost),
        lost_examples=lost[:10],
        outputs_doubled=doubled,
        mql_crossed=len(crossed),
        mql_crossed_one_worker=len(crossed_alone),
        mql_crossed_differing=len(crossed ^ crossed_alone),
        logs=[str(worker.log) for worker in workers],
    )
    return figures


async def published(bench: Bench, settings: Settings) -> Published:
    """Every MQL crossing and stage change a run published so far: read right after the
    one-worker phase, before the latency phase adds its probes to the same topics."""
    published = []
    for topic in ("mql-crossed", "lead-stage-changes"):
        name = settings.topic(topic)
        tps = partitions_of([name], settings.partitions)
        for record in await read_to_end(bench.cluster, tps):
            if record.value is not None:
                published.append((topic, orjson.loads(record.value)))
    return published


def _identified(published: Published) -> set[str]:
    """Leads made `lead` from `visitor`: whether a lead's profile identifies it does not depend
    on the order in which topics are read, so this is the oracle for lost events."""
    return {output["lead_id"] for _, output in published if output.get("to_stage") == "lead"}


def _crossings(published: Published) -> set[tuple[str, int]]:
    """(lead, crossing number) of every MQL crossing: reported, not judged (see the module)."""
    return {
        (output["lead_id"], output["crossing"])
        for topic, output in published
        if topic == "mql-crossed"
    }
