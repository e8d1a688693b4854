"""The benchmark's report: figures beside issue 4's targets, as a table and as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamproc.bench.report import figure_rows, render_table, write_json


def _results(**changes: Any) -> dict[str, Any]:
    results: dict[str, Any] = {
        "raw": {"events_per_s": 50_000, "complete": True},
        "faust_baseline": {"events_per_s": 2_500, "complete": True},
        "worker": {
            "events_per_s": 25_000,
            "events_per_s_from_process_start": 20_000,
            "events_per_s_steady_10_90": 27_000,
            "complete": True,
            "peak_rss_mb": 120.5,
            "leads": 10_000,
        },
        "latency": {
            "load": "mix, 1 in 10 a probe",
            "offered_per_s": 12_500,
            "count": 25_000,
            "missing": 0,
            "p50_ms": 12.0,
            "p99_ms": 180.0,
            "max_ms": 300.0,
            "warmup_s": 10.0,
            "warmup": {"count": 12_000, "p50_ms": 40.0, "p99_ms": 900.0, "max_ms": 1000.0},
        },
        "memory": [
            {
                "store": "memory://",
                "leads": 100_000,
                "processed": 100_000,
                "complete": True,
                "bytes_per_lead": 900,
                "rss_before_mb": 80.0,
                "rss_after_mb": 166.0,
                "peak_rss_mb": 170.0,
                "data_dir_mb": 0.0,
            },
            {"phase": "memory", "error": "WorkerError: the worker exited with 1"},
        ],
        "recovery": {
            "leads": 1_000_000,
            "first_start": {
                "recovered_s": 75.0,
                "ready_s": 70.0,
                "rss_mb": 900.0,
                "sampled_leads_found": "20/20",
            },
        },
    }
    results.update(changes)
    return results


def _row(rows: list[tuple[str, str, str, str]], start: str) -> tuple[str, str, str, str]:
    return next(row for row in rows if row[0].startswith(start))


def test_each_figure_stands_beside_its_target_with_a_verdict() -> None:
    rows = figure_rows(_results())
    assert _row(rows, "raw ceiling")[1] == "50,000 ev/s"
    assert _row(rows, "plain Faust")[1] == "2,500 ev/s (5% of raw)"
    assert _row(rows, "worker as % of raw")[1:] == ("50.0 %", ">= 40 %", "ok")
    latency = _row(rows, "latency at 12,500 ev/s, mix")
    assert latency[2:] == ("p99 < 250 ms", "ok")  # judged after the warm-up, which is shown
    assert latency[1].endswith("in the 10 s warm-up before, p99 900.0 ms")
    assert _row(rows, "memory per lead, memory:// 100,000")[3] == "ok"
    recovery = _row(rows, "recovery of 1,000,000 leads, memory://")
    assert recovery[1].startswith("recovered 75.0 s") and recovery[3] == "MISSED"
    assert _row(rows, "memory run")[3] == "ERROR"


def test_misses_are_called_misses() -> None:
    worse = _results(raw={"events_per_s": 100_000, "complete": True})
    worse["latency"] = {**worse["latency"], "p99_ms": 400.0}
    rows = figure_rows(worse)
    assert _row(rows, "worker as % of raw")[1:] == ("25.0 %", ">= 40 %", "MISSED")
    assert _row(rows, "latency")[3] == "MISSED"


def test_a_timeout_or_a_missing_output_is_not_ok() -> None:
    results = _results()
    results["worker"] = {**results["worker"], "complete": False}
    results["latency"] = {**results["latency"], "missing": 3}
    rows = figure_rows(results)
    assert "TIMED OUT" in _row(rows, "worker, ready")[1]
    assert _row(rows, "latency")[3] == "MISSED"


def test_recovery_below_a_million_leads_has_no_verdict() -> None:
    results = _results()
    results["recovery"] = {**results["recovery"], "leads": 100_000}
    assert _row(figure_rows(results), "recovery")[3] == "n/a (not 1M)"


def test_recovery_of_the_runs_own_changelog_says_how_many_records_it_read() -> None:
    results = _results(
        recovery_after_run={
            "leads": 9_999,
            "changelog_records": 36_800,
            "recovered_s": 15.6,
            "sampled_leads_found": "20/20",
        }
    )
    row = _row(figure_rows(results), "recovery of the throughput run's changelog, 9,999 leads")
    assert row[1] == (
        "recovered 15.6 s after process start; 36,800 changelog records; leads found 20/20"
    )
    failed = _results(recovery_after_run={"phase": "recovery", "error": "WorkerError: gone"})
    assert _row(figure_rows(failed), "recovery after the run")[3] == "ERROR"


def test_phases_that_did_not_run_leave_no_rows() -> None:
    rows = figure_rows({"raw": {"events_per_s": 1_000, "complete": True}})
    assert [row[0] for row in rows] == ["raw ceiling (aiokafka)"]


def test_the_table_aligns_its_columns() -> None:
    table = render_table(figure_rows(_results())).splitlines()
    assert table[0].split("|")[0].strip() == "figure"
    assert len({len(line) for line in table}) == 1  # every line pads to the same width
    assert set(table[1]) <= {"-", "+"}


def test_the_json_holds_the_same_figures(tmp_path: Path) -> None:
    path = write_json(_results(), tmp_path / "out", "20260101-000000")
    assert path == tmp_path / "out" / "bench-20260101-000000.json"
    assert json.loads(path.read_text())["worker"]["events_per_s"] == 25_000


def _scaleout(lost: int, doubled: int, events_per_s: int = 30_000) -> dict[str, Any]:
    return {
        "workers": 2,
        "events_per_s": events_per_s,
        "leads_identified": 6_000,
        "leads_identified_lost": lost,
        "outputs_doubled": doubled,
        "mql_crossed": 2_000,
        "mql_crossed_one_worker": 2_010,
        "mql_crossed_differing": 20,
    }


def test_scale_out_is_judged_on_speed_and_on_nothing_lost_or_doubled() -> None:
    def verdicts(scaleout: dict[str, Any]) -> list[str]:
        rows = figure_rows(_results(scaleout=scaleout))
        return [row[3] for row in rows if row[0].startswith(("2 workers", "across"))]

    assert verdicts(_scaleout(lost=0, doubled=0)) == ["ok", "ok"]
    assert verdicts(_scaleout(lost=3, doubled=0)) == ["ok", "MISSED"]
    assert verdicts(_scaleout(lost=0, doubled=1)) == ["ok", "MISSED"]
    assert verdicts(_scaleout(lost=0, doubled=0, events_per_s=20_000)) == ["MISSED", "ok"]
