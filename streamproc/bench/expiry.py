"""Expiry: anonymous visitors over a simulated year keep the lead table bounded.

One page visit per visitor, dated evenly over the year that ends now, read by one worker on
the default definition (visitors live 30 days). The partition clock runs through the year as
the backlog is read, the expiry timer ticks the visitors it passes, and the table holds about
the last 30 days' visitors at the end rather than all of them.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from streamproc.bench.context import Bench
from streamproc.bench.kafka_ops import end_offsets, partitions_of
from streamproc.bench.procs import directory_bytes, memory_kb, pid_of, start_and_wait_ready
from streamproc.bench.stats import rate
from streamproc.bench.workload import Message, encode_event
from streamproc.settings import Settings
from streamproc.streaming.codec import TICKS_TOPIC
from streamproc.streaming.topics import ensure_topics
from streamproc.worker_process import WorkerProcess

YEAR_MS = 365 * 86_400_000
SCAN_INTERVAL_S = 2.0
"""The expiry timer's interval in this run (STREAMPROC_EXPIRY_SCAN_INTERVAL)."""
STEADY_POLLS = 4
"""Leads held unchanged over this many polls of /metrics (2 s apart): the ticks are done."""


def visitor_messages(visitors: int, end_ms: int) -> Iterator[Message]:
    """One page visit per anonymous visitor, evenly over the year before `end_ms`."""
    start = end_ms - YEAR_MS
    step = YEAR_MS / max(1, visitors)
    for i in range(visitors):
        lead = f"anon-{i:07d}"
        fields = {"url": "https://bench.test/blog", "anonymous_id": lead}
        yield (
            "page-visits",
            lead.encode(),
            encode_event(f"x-{i}", lead, int(start + i * step), fields),
        )


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {}
    for line in text.splitlines():
        for name in ("streamproc_leads ", "streamproc_leads_expired_total{"):
            if line.startswith(name):
                found[name.strip(" {")] = float(line.rsplit(" ", 1)[1])
    return found


async def _records(bench: Bench, settings: Settings, topic: str) -> int:
    """Records written to `topic` (its end offsets: compaction does not lower them)."""
    ends = await end_offsets(bench.cluster, partitions_of([topic], settings.partitions))
    return sum(ends.values())


async def expiry(bench: Bench, visitors: int) -> dict[str, Any]:
    """Read `visitors` anonymous visitors of a simulated year; what the worker holds after."""
    phase = f"expiry-{visitors}"
    settings = bench.settings(phase, definition="default", expiry_scan_interval=SCAN_INTERVAL_S)
    await ensure_topics(settings)
    end_ms = round(time.time() * 1000)
    await bench.produce(phase, settings, visitor_messages(visitors, end_ms))
    ends = await bench.input_ends(settings)
    worker = bench.children.add(WorkerProcess(settings, settings.data_dir / "worker.log"))
    try:
        started = time.perf_counter()
        _, ready_s = await start_and_wait_ready(worker, 120.0)
        wait = await bench.wait_read(phase, settings, ends, worker, started)
        seen = [await asyncio.to_thread(_metrics, settings.web_port)]
        held_when_read = int(seen[0].get("streamproc_leads", -1))
        bench.say(
            phase,
            f"{wait.committed:,} visits read in {wait.seconds:.1f} s; {held_when_read:,} "
            "leads held then; waiting for the expiry ticks to be applied",
        )
        deadline = time.perf_counter() + bench.options.timeout
        while time.perf_counter() < deadline:
            worker.check()
            seen.append(await asyncio.to_thread(_metrics, settings.web_port))
            if len(seen) >= STEADY_POLLS and all(s == seen[-1] for s in seen[-STEADY_POLLS:]):
                break
            await asyncio.sleep(2.0)
        drained_s = time.perf_counter() - started
        memory = memory_kb(pid_of(worker))
        last = seen[-1] if seen else {}
        held = int(last.get("streamproc_leads", -1))
        expired = int(last.get("streamproc_leads_expired_total", -1))
        changelog = f"{settings.topic(settings.app_id)}-{{}}-changelog"
        states = await _records(bench, settings, changelog.format("lead-states"))
        expiries = await _records(bench, settings, changelog.format("lead-expiries"))
        ticks = await _records(bench, settings, settings.topic(TICKS_TOPIC))
    finally:
        bench.children.stop(worker)
    bench.say(
        phase,
        f"{held:,} leads held of {visitors:,} ({expired:,} expired); RSS "
        f"{memory['VmRSS'] / 1024:.0f} MB (peak {memory['VmHWM'] / 1024:.0f}); changelog "
        f"records written: lead-states {states:,}, lead-expiries {expiries:,}; "
        f"sla-ticks {ticks:,}; steady {drained_s:.0f} s after start",
    )
    return {
        "visitors": visitors,
        "simulated_days": 365,
        "visitor_retention_days": 30,
        "read": wait.committed,
        "complete": wait.done,
        "events_per_s": round(rate(wait.committed, wait.seconds)),
        "ready_s": round(ready_s, 2),
        "seconds_to_steady": round(drained_s, 1),
        "leads_held": held,
        "leads_expired": expired,
        "rss_mb": round(memory["VmRSS"] / 1024, 1),
        "peak_rss_mb": round(memory["VmHWM"] / 1024, 1),
        "lead_states_changelog_records": states,
        "lead_expiries_changelog_records": expiries,
        "sla_ticks_records": ticks,
        "leads_held_when_read": held_when_read,
        "data_dir_mb": round(directory_bytes(settings.data_dir) / 2**20, 1),
    }
