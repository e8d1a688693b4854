"""The figures of a run beside issue 4's targets: a readable table and the same as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from streamproc.bench.stats import share

TARGET_SHARE_OF_RAW = 40.0
TARGET_P99_MS = 250.0
TARGET_BYTES_PER_LEAD = 1024
TARGET_RECOVERY_S = 60.0
TARGET_RECOVERY_LEADS = 1_000_000
RECOVERY_RUNS = {
    "first_start": "memory:// (whole changelog)",
    "rocksdb_first_start": "rocksdb:// first start (whole changelog)",
    "rocksdb_restart": "rocksdb:// restart (local store kept)",
}
Row = tuple[str, str, str, str]
"""(figure, value, target, verdict)."""


def _n(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else "ok" if ok else "MISSED"


def _failed(name: str, section: Any) -> Row | None:
    if isinstance(section, dict) and "error" in section:
        return (name, f"failed: {section['error']}"[:70], "", "ERROR")
    return None


def _throughput_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    raw, baseline, worker = (results.get(k) for k in ("raw", "faust_baseline", "worker"))
    raw_eps = raw.get("events_per_s") if isinstance(raw, dict) else None
    for name, section in (("raw ceiling (aiokafka)", raw), ("plain Faust agent + table", baseline)):
        if section is None:
            continue
        if (failed := _failed(name, section)) is not None:
            rows.append(failed)
            continue
        part = share(section["events_per_s"], raw_eps) if raw_eps else None
        note = f" ({_n(part, '% of raw')})" if part is not None and section is baseline else ""
        partial = "" if section.get("complete", True) else " TIMED OUT"
        rows.append((name, f"{_n(section['events_per_s'])} ev/s{note}{partial}", "", ""))
    if worker is None:
        return rows
    if (failed := _failed("worker", worker)) is not None:
        return [*rows, failed]
    partial = "" if worker["complete"] else " TIMED OUT"
    counting = "metrics on" if worker.get("metrics", True) else "metrics off"
    rows.append(
        (
            "worker, ready -> all committed",
            f"{_n(worker['events_per_s'])} ev/s ({counting}){partial}",
            "",
            "",
        )
    )
    rows.append(
        (
            "worker, other clocks",
            f"{_n(worker['events_per_s_from_process_start'])} ev/s from process start, "
            f"{_n(worker['events_per_s_steady_10_90'])} ev/s steady (10-90%)",
            "",
            "",
        )
    )
    part = share(worker["events_per_s"], raw_eps) if raw_eps else None
    rows.append(
        (
            "worker as % of raw",
            _n(part, " %", 1),
            f">= {TARGET_SHARE_OF_RAW:g} %",
            _verdict(None if part is None else part >= TARGET_SHARE_OF_RAW),
        )
    )
    rows.append(
        (
            "worker peak RSS (throughput run)",
            f"{_n(worker['peak_rss_mb'], ' MB', 1)} with {_n(worker['leads'])} leads",
            "",
            "",
        )
    )
    return rows


def _latency_rows(latency: dict[str, Any]) -> list[Row]:
    if (failed := _failed("latency", latency)) is not None:
        return [failed]
    p99_ok = latency["count"] > 0 and latency["p99_ms"] < TARGET_P99_MS and not latency["missing"]
    warmup = latency.get("warmup")
    before = (
        f"; in the {latency['warmup_s']:g} s warm-up before, p99 {_n(warmup['p99_ms'], ' ms', 1)}"
        if warmup
        else ""
    )
    return [
        (
            f"latency at {_n(latency['offered_per_s'])} ev/s, {latency['load']}",
            f"p50 {_n(latency['p50_ms'], ' ms', 1)}, p99 {_n(latency['p99_ms'], ' ms', 1)}, "
            f"max {_n(latency['max_ms'], ' ms', 1)} ({_n(latency['count'])} outputs, "
            f"{latency['missing']} missing){before}",
            f"p99 < {TARGET_P99_MS:g} ms",
            _verdict(p99_ok),
        )
    ]


def _memory_rows(runs: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for run in runs:
        if (failed := _failed(f"memory run {run.get('phase', '')}", run)) is not None:
            rows.append(failed)
            continue
        memory = run["store"].startswith("memory")
        partial = "" if run["complete"] else f" (only {_n(run['processed'])} processed)"
        value = (
            f"{_n(run['bytes_per_lead'], ' B')}/lead; RSS {_n(run['rss_before_mb'], ' MB')} -> "
            f"{_n(run['rss_after_mb'], ' MB')}, peak {_n(run['peak_rss_mb'], ' MB')}{partial}"
        )
        if not memory:
            value += f"; {_n(run['data_dir_mb'], ' MB', 1)} on disk"
        rows.append(
            (
                f"memory per lead, {run['store']} {_n(run['leads'])} leads",
                value,
                f"< {TARGET_BYTES_PER_LEAD} B" if memory else "",
                _verdict(run["bytes_per_lead"] < TARGET_BYTES_PER_LEAD) if memory else "",
            )
        )
    return rows


def _over_empty(run: dict[str, Any]) -> str:
    grown = run.get("bytes_per_lead_over_empty_worker")
    return "" if grown is None else f" ({_n(grown, ' B')}/lead over an empty worker)"


def _recovery_rows(recovery: dict[str, Any]) -> list[Row]:
    if (failed := _failed("recovery", recovery)) is not None:
        return [failed]
    rows: list[Row] = []
    at_target_size = recovery["leads"] >= TARGET_RECOVERY_LEADS
    for label, what in RECOVERY_RUNS.items():
        run = recovery.get(label)
        if not run:
            continue
        seconds = run["recovered_s"]
        ok = None if not at_target_size else seconds is not None and seconds < TARGET_RECOVERY_S
        rows.append(
            (
                f"recovery of {_n(recovery['leads'])} leads, {what}",
                f"recovered {_n(seconds, ' s', 1)}, ready {_n(run['ready_s'], ' s', 1)} after "
                f"process start; RSS {_n(run['rss_mb'], ' MB')}"
                f"{_over_empty(run)}; leads found {run['sampled_leads_found']}",
                f"1M < {TARGET_RECOVERY_S:g} s",
                _verdict(ok) if at_target_size else "n/a (not 1M)",
            )
        )
    return rows


def _recovery_after_run_row(run: dict[str, Any]) -> Row:
    if (failed := _failed("recovery after the run", run)) is not None:
        return failed
    return (
        f"recovery of the throughput run's changelog, {_n(run['leads'])} leads, memory://",
        f"recovered {_n(run['recovered_s'], ' s', 1)} after process start; "
        f"{_n(run['changelog_records'])} changelog records; "
        f"leads found {run['sampled_leads_found']}",
        "",
        "",
    )


def _scaleout_rows(scaleout: dict[str, Any], one_worker: Any) -> list[Row]:
    if (failed := _failed("scale-out", scaleout)) is not None:
        return [failed]
    alone = one_worker.get("events_per_s") if isinstance(one_worker, dict) else None
    faster = alone is not None and scaleout["events_per_s"] > alone
    correct = scaleout["leads_identified_lost"] == 0 and scaleout["outputs_doubled"] == 0
    return [
        (
            f"{scaleout['workers']} workers, ready -> all committed",
            f"{_n(scaleout['events_per_s'])} ev/s (one worker {_n(alone)})",
            "more than one worker",
            _verdict(faster),
        ),
        (
            "across the rebalance: leads identified",
            f"{_n(scaleout['leads_identified'])}, {scaleout['leads_identified_lost']} lost vs "
            f"one worker; {scaleout['outputs_doubled']} outputs doubled",
            "none lost or doubled",
            _verdict(correct),
        ),
        (
            "MQL crossings, 2 workers vs 1",
            f"{_n(scaleout['mql_crossed'])} vs {_n(scaleout['mql_crossed_one_worker'])}, "
            f"{scaleout['mql_crossed_differing']} differ",
            "",
            "",
        ),
    ]


def figure_rows(results: dict[str, Any]) -> list[Row]:
    rows = _throughput_rows(results)
    for name in ("latency", "latency_probes_only"):
        if name in results:
            rows += _latency_rows(results[name])
    if "scaleout" in results:
        rows += _scaleout_rows(results["scaleout"], results.get("worker"))
    rows += _memory_rows(results.get("memory", []))
    if "recovery_after_run" in results:
        rows.append(_recovery_after_run_row(results["recovery_after_run"]))
    if "recovery" in results:
        rows += _recovery_rows(results["recovery"])
    return rows


def render_table(rows: list[Row]) -> str:
    header: Row = ("figure", "value", "target (issue 4)", "verdict")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(4)]
    line = "+".join("-" * (w + 2) for w in widths)

    def show(row: Row) -> str:
        return "|".join(f" {cell:<{w}} " for cell, w in zip(row, widths, strict=True))

    return "\n".join([show(header), line, *(show(row) for row in rows)])


def write_json(results: dict[str, Any], out_dir: Path, stamp: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path
