"""Throughput of the plain Faust baseline and of the worker, and the worker's latency."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from streamproc.bench.context import Bench
from streamproc.bench.kafka_ops import (
    CommitWait,
    end_offsets,
    partitions_of,
    wait_committed,
)
from streamproc.bench.procs import (
    BaselineProcess,
    memory_kb,
    pid_of,
    start_and_wait_ready,
)
from streamproc.bench.profile import (
    describe_profile,
    finish_profile,
    start_profile,
    stop_profile,
    summarize_file,
)
from streamproc.bench.stats import rate, steady_rate
from streamproc.bench.workload import Workload
from streamproc.settings import Settings
from streamproc.streaming.ingest import worker_groups
from streamproc.streaming.topics import INPUT_TOPICS, OUTPUT_TOPICS, ensure_topics
from streamproc.worker_process import WorkerProcess

READY_TIMEOUT = 120.0
PROFILE_S = 30.0
"""Seconds of py-spy sampling (`--profile`), from ready on."""


def throughput_figures(wait: CommitWait, ready_s: float) -> dict[str, Any]:
    """Rates of a run timed from `ready_s`. The rate from ready counts from the first look at
    the committed offsets, and only what was committed after it: of two workers started
    together, the first reads while the second is still starting."""
    steady = steady_rate(wait.timeline, wait.total)
    first_look_s, before_ready = wait.timeline[0] if wait.timeline else (0.0, 0)
    return {
        "events": wait.total,
        "committed": wait.committed,
        "committed_before_ready": before_ready,
        "complete": wait.done,
        "ready_s": round(ready_s, 2),
        "seconds_from_ready": round(wait.seconds, 2),
        "events_per_s": round(rate(wait.committed - before_ready, wait.seconds - first_look_s)),
        "events_per_s_from_process_start": round(rate(wait.committed, wait.seconds + ready_s)),
        "events_per_s_steady_10_90": round(steady) if steady is not None else None,
    }


async def _measure(
    bench: Bench, phase: str, settings: Settings, child: WorkerProcess, groups: Sequence[str]
) -> dict[str, Any]:
    """Start `child` on a backlog already produced; figures once `groups` committed all."""
    ends = await bench.input_ends(settings)
    bench.children.add(child)
    started, ready_s = await start_and_wait_ready(child, READY_TIMEOUT)
    bench.say(phase, f"ready {ready_s:.1f} s after start (pid {pid_of(child)}); consuming")
    raw_profile = settings.data_dir / "py-spy.txt"
    profiler = (
        start_profile(pid_of(child), PROFILE_S, raw_profile) if bench.options.profile else None
    )
    try:
        wait = await wait_committed(
            bench.cluster,
            groups,
            ends,
            bench.options.timeout,
            child.check,
            bench.progress(phase),
            started=started + ready_s,
        )
    except BaseException:
        if profiler is not None:
            stop_profile(profiler)
        raise
    figures = throughput_figures(wait, ready_s)
    if profiler is not None:
        finish_profile(profiler)
        figures["profile"] = summarize_file(raw_profile)
        _say_profile(bench, phase, figures["profile"])
    memory = memory_kb(pid_of(child))
    figures.update(
        peak_rss_mb=round(memory["VmHWM"] / 1024, 1), rss_mb=round(memory["VmRSS"] / 1024, 1)
    )
    state = "all" if wait.done else "TIMED OUT at"
    bench.say(
        phase,
        f"{state} {wait.committed:,} events committed {wait.seconds:.1f} s after ready: "
        f"{figures['events_per_s']:,}/s (steady {figures['events_per_s_steady_10_90']}/s), "
        f"peak RSS {figures['peak_rss_mb']} MB",
    )
    return figures


def _say_profile(bench: Bench, phase: str, profile: dict[str, Any]) -> None:
    for line in describe_profile(profile):
        bench.say(phase, line)


async def faust_baseline(bench: Bench, workload: Workload) -> dict[str, Any]:
    """The agent a Faust user would write, on the same events in its own topics."""
    phase = "faust"
    settings = bench.settings(phase)
    await ensure_topics(settings)
    produced = await bench.produce(phase, settings, workload.messages)
    app_id = settings.topic("baseline")
    args = [
        "--app-id", app_id,
        "--topics", ",".join(settings.topic(name) for name in INPUT_TOPICS),
        "--partitions", str(settings.partitions),
        "--datadir", str(settings.data_dir / "faust"),
        "--web-port", str(settings.web_port),
    ]  # fmt: skip
    child = BaselineProcess(settings, settings.data_dir / "faust-baseline.log", args)
    try:
        figures = await _measure(bench, phase, settings, child, [app_id])
    finally:
        bench.children.stop(child)
    return {"produce": produced, **figures, "log": str(child.log)}


async def worker_throughput(
    bench: Bench, workload: Workload
) -> tuple[dict[str, Any], WorkerProcess]:
    """`streamproc worker` on the same events; it is left running for the latency phase."""
    phase = "worker"
    settings = bench.settings(phase)
    await ensure_topics(settings)
    produced = await bench.produce(phase, settings, workload.messages)
    worker = WorkerProcess(settings, settings.data_dir / "worker.log")
    figures = await _measure(bench, phase, settings, worker, worker_groups(settings))
    await asyncio.sleep(1.0)  # outputs of the last commit interval
    outputs = partitions_of([settings.topic(name) for name in OUTPUT_TOPICS], settings.partitions)
    written: dict[str, int] = {}
    for tp, end in (await end_offsets(bench.cluster, outputs)).items():
        name = tp.topic.removeprefix(settings.topic_prefix)
        written[name] = written.get(name, 0) + end
    bench.say(phase, "outputs: " + ", ".join(f"{n} {c:,}" for n, c in written.items() if c))
    figures.update(
        metrics=settings.metrics,
        produce=produced,
        leads=workload.distinct_leads,
        outputs=written,
        log=str(worker.log),
    )
    return figures, worker
