"""One benchmark run: broker, workload, every phase in turn, the table and the JSON.

Whatever happens (a failed phase, Ctrl-C, SIGTERM) every child process is stopped, this run's
topics are deleted and a broker this run started is stopped; what was measured is written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiokafka
import faust

from streamproc.bench.context import Bench, free_ports
from streamproc.bench.expiry import expiry
from streamproc.bench.kafka_ops import delete_topics
from streamproc.bench.latency import latency
from streamproc.bench.memory import memory_per_lead, recovery, recovery_after_run
from streamproc.bench.options import BenchOptions
from streamproc.bench.phases import faust_baseline, worker_throughput
from streamproc.bench.procs import scrub_debug_environment
from streamproc.bench.raw import raw_phase
from streamproc.bench.report import figure_rows, render_table, write_json
from streamproc.bench.scaleout import Published, published, scale_out
from streamproc.bench.workload import WorkloadSpec, generate
from streamproc.cli_support import settings_from_environment
from streamproc.kafka_client import KafkaAccessError, check_connection_sync
from streamproc.localkafka import BrokerConfig, broker_status, start_broker, stop_broker
from streamproc.settings import Settings
from streamproc.worker_process import WorkerProcess

BROKER_DIR = Path(".streamproc/bench-kafka")
BENCH_DIR = Path(".streamproc/bench")


async def _guard(bench: Bench, name: str, step: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Run one phase; a failure is recorded and the run goes on (Ctrl-C is not caught)."""
    try:
        return await step
    except Exception as error:
        bench.say(name, f"FAILED: {type(error).__name__}: {error}")
        return {"phase": name, "error": f"{type(error).__name__}: {error}"}


async def _phases(bench: Bench, results: dict[str, Any]) -> None:
    if {"raw", "faust", "worker"} & set(bench.options.phases):
        await _throughput_phases(bench, results)
    await _state_phases(bench, results)


async def _throughput_phases(bench: Bench, results: dict[str, Any]) -> None:
    """The workload through the raw ceiling, the Faust baseline and the worker; latency."""
    options = bench.options
    spec = WorkloadSpec(
        events=options.events,
        leads=options.leads,
        seed=options.seed,
        end_ms=round(time.time() * 1000) - 60_000,
    )
    started = time.perf_counter()
    workload = generate(spec)
    results["workload"] = {
        "events": spec.events,
        "leads": spec.leads,
        "distinct_leads": workload.distinct_leads,
        "per_topic": workload.per_topic,
        "hottest_1pct_share_of_events": round(workload.hottest_percent_share, 3),
        "seed": spec.seed,
        "span_hours": spec.span_ms / 3_600_000,
        "generated_in_s": round(time.perf_counter() - started, 2),
    }
    bench.say(
        "workload",
        f"{spec.events:,} events of {workload.distinct_leads:,} leads in "
        f"{results['workload']['generated_in_s']} s: {workload.per_topic}",
    )
    if "raw" in options.phases:
        results["raw"] = await _guard(bench, "raw", raw_phase(bench, workload.messages))
    if "faust" in options.phases:
        results["faust_baseline"] = await _guard(bench, "faust", faust_baseline(bench, workload))
    worker: WorkerProcess | None = None
    one_worker: Published = []
    if "worker" in options.phases:
        try:
            results["worker"], worker = await worker_throughput(bench, workload)
            if "scaleout" in options.phases:
                one_worker = await published(bench, worker.settings)
        except Exception as error:
            results["worker"] = {"phase": "worker", "error": f"{type(error).__name__}: {error}"}
            bench.say("worker", f"FAILED: {results['worker']['error']}")
    if "latency" in options.phases:
        eps = results.get("worker", {}).get("events_per_s")
        if worker is None or not eps:
            results["latency"] = {"phase": "latency", "error": "needs a successful worker phase"}
        else:
            offered = eps * options.latency_share
            offered_s = options.latency_warmup_seconds + options.latency_seconds
            filler = generate(
                WorkloadSpec(
                    events=max(1, int(offered * offered_s)),
                    leads=options.leads,
                    seed=options.seed + 1,
                    end_ms=round(time.time() * 1000),
                    span_ms=round(offered_s * 1000),
                    profiled=True,  # the leads the worker knows: the traffic after its start
                )
            ).messages
            results["latency"] = await _guard(
                bench, "latency", latency(bench, worker, offered, filler, "latency")
            )
            results["latency_probes_only"] = await _guard(
                bench, "latency", latency(bench, worker, offered, None, "latency-p")
            )
    if worker is not None:
        bench.children.stop(worker)
        if "recovery" in options.phases:
            leads = sorted({key.decode() for _, key, _ in workload.messages})
            results["recovery_after_run"] = await _guard(
                bench, "recovery", recovery_after_run(bench, worker.settings, leads)
            )
    if "scaleout" in options.phases:
        if worker is None:
            results["scaleout"] = {"phase": "scaleout", "error": "needs a successful worker phase"}
        else:
            results["scaleout"] = await _guard(
                bench, "scaleout", scale_out(bench, workload, one_worker)
            )


async def _state_phases(bench: Bench, results: dict[str, Any]) -> None:
    """Memory per lead and recovery, each on a worker of its own."""
    options = bench.options
    if "memory" in options.phases:
        runs = results.setdefault("memory", [])
        for leads in options.memory_leads:
            runs.append(await _guard(bench, "memory", memory_per_lead(bench, leads, "memory://")))
        if options.rocksdb_leads:
            runs.append(
                await _guard(
                    bench, "memory", memory_per_lead(bench, options.rocksdb_leads, "rocksdb://")
                )
            )
    if "expiry" in options.phases:
        results["expiry"] = await _guard(bench, "expiry", expiry(bench, options.expiry_visitors))
    if "recovery" in options.phases:
        results["recovery"] = await _guard(
            bench, "recovery", recovery(bench, options.recovery_leads)
        )
        _recovered_bytes_per_lead(results)


def _recovered_bytes_per_lead(results: dict[str, Any]) -> None:
    """RSS of the recovered worker over an empty one's, per lead: memory per lead at the
    recovery size without processing that many events."""
    runs = [r for r in results.get("memory", []) if r.get("store") == "memory://"]
    recovered = results["recovery"].get("first_start")
    if runs and recovered and "rss_at_ready_mb" in runs[0]:
        grown = (recovered["rss_mb"] - runs[0]["rss_at_ready_mb"]) * 2**20
        recovered["bytes_per_lead_over_empty_worker"] = round(grown / results["recovery"]["leads"])


def _run_info(options: BenchOptions, bootstrap: str, started: bool) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "preset": options.preset,
        "options": {k: str(v) for k, v in vars(options).items()},
        "broker": bootstrap,
        "broker_started_by_run": started,  # False: reused, or --external
        "python": platform.python_version(),
        "faust": faust.__version__,
        "aiokafka": aiokafka.__version__,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "git_commit": commit,
    }


async def _main(bench: Bench, results: dict[str, Any]) -> None:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await _phases(bench, results)
    finally:
        bench.children.stop_all()
        for tables in [*bench.root.glob("*/worker"), *bench.root.glob("*/faust")]:
            shutil.rmtree(tables, ignore_errors=True)  # table stores; the logs stay
        try:
            deleted = await asyncio.wait_for(delete_topics(bench.cluster, bench.topic_prefix), 60)
            bench.say("cleanup", f"deleted {len(deleted)} topics of this run")
        except Exception as error:
            bench.say("cleanup", f"could not delete this run's topics: {error!r}")


def _broker() -> tuple[BrokerConfig, str, bool]:
    """Reuse the bench broker if it runs, else one on free ports: (config, bootstrap, ours)."""
    config = BrokerConfig(data_dir=BROKER_DIR)
    status = broker_status(config)
    if status.running:
        return config, status.bootstrap_servers, False
    shutil.rmtree(BROKER_DIR / "logs", ignore_errors=True)  # a fresh cluster for fresh ports
    port, controller = free_ports(2)
    config = BrokerConfig(data_dir=BROKER_DIR, port=port, controller_port=controller)
    return config, config.bootstrap_servers, True


def _cluster(options: BenchOptions, bench: Bench) -> tuple[Settings, BrokerConfig | None]:
    """The cluster to run on, and the local broker's config if this run must start it."""
    if options.external:
        cluster = settings_from_environment()
        check_connection_sync(cluster)
        bench.say("kafka", f"using {cluster.bootstrap_servers} ({cluster.security_protocol})")
        return cluster, None
    config, bootstrap, ours = _broker()
    action = "starting a broker" if ours else "reusing the running broker"
    bench.say("kafka", f"{action} on {bootstrap}, data in {BROKER_DIR}")
    if ours:
        start_broker(config)
    local = settings_from_environment(broker=bootstrap, security_protocol="PLAINTEXT")
    return local, config if ours else None


def run_bench(options: BenchOptions) -> int:
    """The whole run; the exit code (0, 1 when a phase failed, 130 when interrupted)."""
    if sys.flags.dev_mode:
        print("error: refusing to benchmark under `python -X dev` (asyncio debug)", file=sys.stderr)
        return 2
    scrubbed = scrub_debug_environment()
    # Fresh topics answer NotLeaderForPartition for a moment; the client retries, quietly.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    bench = Bench(options, Settings.model_construct(), stamp, BENCH_DIR / stamp)  # see _cluster
    if scrubbed:
        bench.say("setup", f"removed {', '.join(scrubbed)} from the environment")
    results: dict[str, Any] = {}
    code = 0
    ours: BrokerConfig | None = None
    try:
        bench.cluster, ours = _cluster(options, bench)
        results["run"] = _run_info(options, bench.cluster.bootstrap_servers, ours is not None)
        asyncio.run(_main(bench, results))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C; SIGTERM cancels the run
        code = 130
        results["interrupted"] = True
        bench.say("stop", "interrupted")
    except KafkaAccessError as error:
        code = 1
        results["error"] = str(error)
        bench.say("stop", f"FAILED: {error}")
    except Exception as error:
        code = 1
        results["error"] = f"{type(error).__name__}: {error}"
        bench.say("stop", f"FAILED: {results['error']}")
    finally:
        bench.children.stop_all()
        if ours and stop_broker(ours):
            shutil.rmtree(BROKER_DIR / "logs", ignore_errors=True)  # GBs of deleted topics
            bench.say("kafka", "stopped the broker this run started")
    if code == 0 and any(isinstance(v, dict) and "error" in v for v in _sections(results)):
        code = 1
    results["wall_seconds"] = round(time.perf_counter() - bench.started, 1)
    print()
    print(render_table(figure_rows(results)))
    path = write_json(results, options.out_dir, stamp)
    print(f"\nfigures written to {path}")
    return code


def _sections(results: dict[str, Any]) -> list[Any]:
    return [*results.values(), *results.get("memory", [])]
