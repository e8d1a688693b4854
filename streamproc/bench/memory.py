"""Memory per lead (resident growth over N leads' first profiles) and table recovery time."""

from __future__ import annotations

import asyncio
import random
import time
import urllib.request
from typing import Any

from streamproc.bench.context import Bench
from streamproc.bench.kafka_ops import (
    create_topics,
    partitions_of,
    produce_bulk,
    read_to_end,
)
from streamproc.bench.procs import (
    LogWatch,
    directory_bytes,
    memory_kb,
    pid_of,
    start_and_wait_ready,
)
from streamproc.bench.profile import (
    describe_profile,
    start_profile,
    stop_profile,
    summarize_file,
)
from streamproc.bench.stats import bytes_per_lead, rate
from streamproc.bench.workload import profile_messages
from streamproc.definitions import load_definition
from streamproc.domain.lead import decide
from streamproc.settings import Settings
from streamproc.streaming.codec import decode_input, encode
from streamproc.streaming.topics import ensure_topics
from streamproc.worker_process import READY_LINE, WorkerProcess

SETTLE_S = 2.0
RECOVERED_LINE = "[^---Recovery]: Worker ready"
"""Faust's recovery service logs this once the tables are read and the streams resume."""
HIGHWATER_LINE = "Highwater for active changelog partitions"
DONE_READING_LINE = "Done reading from changelog topics"
RESTORING_LINE = "Restoring state from changelog topics"
PLACEHOLDER = "zzbenchleadzz"


def _now_ms() -> int:
    return round(time.time() * 1000)


async def _process(
    bench: Bench, phase: str, settings: Settings, worker: WorkerProcess, leads: list[str]
) -> tuple[int, float]:
    """Produce one first profile per lead and wait for the worker; (committed, seconds)."""
    produced = profile_messages(leads, f"{phase}-", _now_ms(), bench.options.seed)
    started = time.perf_counter()
    await bench.produce(phase, settings, produced)
    wait = await bench.wait_read(phase, settings, await bench.input_ends(settings), worker, started)
    return wait.committed, wait.seconds


async def memory_per_lead(bench: Bench, leads: int, store: str) -> dict[str, Any]:
    """RSS growth per lead of a fresh worker over `leads` new leads (after a 1% warm-up)."""
    name = "rocksdb" if store.startswith("rocksdb") else "memory"
    phase = f"mem-{name}-{leads}"
    settings = bench.settings(phase, store=store)
    await ensure_topics(settings)
    worker = bench.children.add(WorkerProcess(settings, settings.data_dir / "worker.log"))
    try:
        _, ready_s = await start_and_wait_ready(worker, 120.0)
        pid = pid_of(worker)
        await asyncio.sleep(SETTLE_S)
        at_ready = memory_kb(pid)["VmRSS"]
        warm = max(500, leads // 100)
        done_warm, _ = await _process(
            bench, phase, settings, worker, [f"warm-{i}" for i in range(warm)]
        )
        await asyncio.sleep(SETTLE_S)
        before = memory_kb(pid)["VmRSS"]
        bench.say(
            phase,
            f"RSS {at_ready / 1024:.0f} MB at ready, "
            f"{before / 1024:.0f} MB after {warm:,} warm-up leads",
        )
        committed, seconds = await _process(
            bench, phase, settings, worker, [f"mem-{i:07d}" for i in range(leads)]
        )
        processed = committed - done_warm
        await asyncio.sleep(SETTLE_S)
        after = memory_kb(pid)
    finally:
        bench.children.stop(worker)
    per_lead = bytes_per_lead(before, after["VmRSS"], max(1, processed))
    bench.say(
        phase,
        f"{processed:,}/{leads:,} leads in {seconds:.1f} s; RSS {before / 1024:.0f} -> "
        f"{after['VmRSS'] / 1024:.0f} MB (peak {after['VmHWM'] / 1024:.0f}): "
        f"{per_lead:,.0f} B/lead",
    )
    return {
        "store": store,
        "leads": leads,
        "processed": processed,
        "complete": processed >= leads,
        "events_per_s": round(rate(processed, seconds)),
        "ready_s": round(ready_s, 2),
        "rss_at_ready_mb": round(at_ready / 1024, 1),
        "rss_before_mb": round(before / 1024, 1),
        "rss_after_mb": round(after["VmRSS"] / 1024, 1),
        "peak_rss_mb": round(after["VmHWM"] / 1024, 1),
        "bytes_per_lead": round(per_lead),
        "data_dir_mb": round(directory_bytes(settings.data_dir) / 2**20, 1),
    }


def state_template(definition: str) -> bytes:
    """The LeadState JSON the worker stores after a lead's first profile, for PLACEHOLDER."""
    _, key, value = profile_messages([PLACEHOLDER], "template-", _now_ms())[0]
    event = decode_input("lead-profiles", key, value)
    return encode(decide(None, event, load_definition(definition)).state)


def _lead_found(port: int, lead: str) -> bool:
    url = f"http://127.0.0.1:{port}/leads/{lead}/"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def _timed_start(
    bench: Bench, phase: str, settings: Settings, label: str, leads: list[str]
) -> dict[str, Any]:
    """Start a worker on the filled changelog: seconds to ready, to recovered, RSS, a check."""
    worker = bench.children.add(WorkerProcess(settings, settings.data_dir / f"worker-{label}.log"))
    started = time.perf_counter()
    pid = worker.start()
    raw_profile = settings.data_dir / f"py-spy-{label}.txt"
    profiler = (
        start_profile(pid, bench.options.timeout, raw_profile) if bench.options.profile else None
    )
    watch = LogWatch(worker.log, started)
    deadline = started + bench.options.timeout
    lines = (READY_LINE, RESTORING_LINE, DONE_READING_LINE)
    try:
        while time.perf_counter() < deadline:
            worker.check()
            seen = watch.poll(*lines)
            if watch.poll_after(HIGHWATER_LINE, RECOVERED_LINE) is not None and READY_LINE in seen:
                break
            await asyncio.sleep(0.1)
        seen = watch.poll(*lines)
        if profiler is not None:
            stop_profile(profiler)
        memory = memory_kb(pid_of(worker))
        sample = random.Random(bench.options.seed).sample(leads, min(20, len(leads)))
        found = sum(
            [await asyncio.to_thread(_lead_found, settings.web_port, lead) for lead in sample]
        )
    finally:
        if profiler is not None:
            stop_profile(profiler)  # at once if it is not done yet
        bench.children.stop(worker)
    figures: dict[str, Any] = {
        "ready_s": _rounded(seen.get(READY_LINE)),
        "restoring_s": _rounded(seen.get(RESTORING_LINE)),
        "done_reading_s": _rounded(seen.get(DONE_READING_LINE)),
        "recovered_s": _rounded(seen.get(RECOVERED_LINE)),
        "rss_mb": round(memory["VmRSS"] / 1024, 1),
        "peak_rss_mb": round(memory["VmHWM"] / 1024, 1),
        "sampled_leads_found": f"{found}/{len(sample)}",
        "log": str(worker.log),
    }
    if profiler is not None:
        figures["profile"] = summarize_file(raw_profile)
        for line in describe_profile(figures["profile"]):
            bench.say(phase, line)
    bench.say(
        phase,
        f"{label}: ready {figures['ready_s']} s, recovered {figures['recovered_s']} s after "
        f"process start; RSS {figures['rss_mb']} MB; "
        f"sampled leads found {figures['sampled_leads_found']}",
    )
    return figures


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def recovery_after_run(
    bench: Bench, settings: Settings, sample_from: list[str]
) -> dict[str, Any]:
    """A fresh worker (memory://, empty data directory) on the changelog that the throughput
    and latency runs left behind: not one record per lead, as `recovery` writes, but one per
    batch that touched the lead, less what the broker's cleaner has compacted by now."""
    phase = "recovery"
    changelog = f"{settings.topic(settings.app_id)}-lead-states-changelog"
    tps = partitions_of([changelog], settings.partitions)
    read = [r for r in await read_to_end(bench.cluster, tps) if r.value is not None]
    leads = len({record.key for record in read})
    bench.say(phase, f"after the run, {changelog} holds {len(read):,} records of {leads:,} leads")
    fresh = settings.model_copy(update={"data_dir": settings.data_dir / "restarted"})
    fresh.data_dir.mkdir(parents=True)
    figures = await _timed_start(bench, phase, fresh, "after-run", sample_from)
    return {"leads": leads, "changelog_records": len(read), **figures}


async def recovery(bench: Bench, leads: int) -> dict[str, Any]:
    """Fill the lead table's changelog with `leads` states, then time a worker's recovery from
    it: with the memory:// store (every start reads the whole changelog), then with rocksdb://,
    first on an empty data directory and then restarted on the data it wrote."""
    phase = "recovery"
    settings = bench.settings(phase)
    await ensure_topics(settings)
    changelog = f"{settings.topic(settings.app_id)}-lead-states-changelog"
    await create_topics(
        bench.cluster, [changelog], settings.partitions, {"cleanup.policy": "compact"}
    )
    template = state_template(settings.definition)
    ids = [f"rec-{i:07d}" for i in range(leads)]
    placeholder = PLACEHOLDER.encode()
    states = (
        (changelog, key, template.replace(placeholder, key)) for key in (i.encode() for i in ids)
    )
    bench.say(phase, f"writing {leads:,} lead states ({len(template)} bytes each) to {changelog}")
    _, seconds = await produce_bulk(
        bench.cluster, states, settings.partitions, bench.progress(phase)
    )
    bench.say(phase, f"changelog filled in {seconds:.1f} s")
    first = await _timed_start(bench, phase, settings, "first-start", ids)
    # A rocksdb:// store keeps the tables, and the changelog offsets they hold, on disk: its
    # first start writes them there, a restart reads only the changelog written after.
    on_disk = settings.model_copy(update={"store": "rocksdb://"})
    rocksdb_first = await _timed_start(bench, phase, on_disk, "rocksdb-first-start", ids)
    rocksdb_restart = await _timed_start(bench, phase, on_disk, "rocksdb-restart", ids)
    return {
        "leads": leads,
        "filled_by": "changelog topic written directly (key = lead id, value = the LeadState "
        "JSON the worker stores after a first profile, partition = murmur2 of the key)",
        "state_bytes": len(template),
        "fill_seconds": round(seconds, 2),
        "first_start": first,
        "rocksdb_first_start": rocksdb_first,
        "rocksdb_restart": rocksdb_restart,
    }
