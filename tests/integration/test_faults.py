"""Faults as a suite: a history produced at a steady rate while the worker is killed, stopped,
frozen, or the broker goes away; then every output topic and the changelog compared with a
replay of the history (`faults.py`). The SIGKILL and the clean stop run in `make test`; the
broker outages and the freeze, marked `faults`, in `make faults`, which also writes the
report (.streamproc/faults/report.txt and .json)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import broker_cli, free_ports, recent_history, worker_settings
from tests.integration.faults import FaultReport, FaultResult, Run, run_fault

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

LEADS = 150


@pytest.fixture(scope="module")
def report() -> FaultReport:
    return FaultReport()


def kept(result: FaultResult, report: FaultReport) -> None:
    report.add(result)
    assert not result.comparison.faults(), result.comparison.faults()
    assert result.recovered_s is not None, "the worker never committed again"


async def test_a_worker_killed_with_sigkill_and_restarted(
    kafka: str, tmp_path: Path, report: FaultReport
) -> None:
    async def sigkill(run: Run) -> None:
        run.workers.pop().kill()
        run.say("worker killed with SIGKILL")
        await asyncio.to_thread(run.start_worker)
        run.say("worker restarted and ready")

    settings = worker_settings(kafka, tmp_path, "default")
    history = recent_history(leads=LEADS, seed=41)
    kept(await run_fault("sigkill", settings, tmp_path, history, sigkill), report)


async def test_a_worker_stopped_cleanly_and_restarted(
    kafka: str, tmp_path: Path, report: FaultReport
) -> None:
    async def clean_stop(run: Run) -> None:
        worker = run.workers.pop()
        await asyncio.to_thread(worker.stop)
        assert worker.process is not None and worker.process.returncode == 0
        run.say("worker stopped with SIGTERM (exit 0)")
        await asyncio.to_thread(run.start_worker)
        run.say("worker restarted and ready")

    settings = worker_settings(kafka, tmp_path, "default")
    history = recent_history(leads=LEADS, seed=43)
    result = await run_fault("clean stop", settings, tmp_path, history, clean_stop)
    kept(result, report)
    # A clean stop publishes nothing twice (DESIGN.md, delivery order).
    assert not any(result.comparison.repeated.values()), result.comparison.repeated


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A broker of its own, to kill: its bootstrap servers and `broker start` arguments."""
    data_dir = tmp_path_factory.mktemp("fault-kafka")
    port, controller = free_ports(2)
    args = ["--port", str(port), "--controller-port", str(controller), "--data-dir", str(data_dir)]
    started = broker_cli("start", *args)
    assert started.returncode == 0, started.stderr
    yield f"127.0.0.1:{port}", args
    broker_cli("stop", "--data-dir", str(data_dir))


def _kill_broker(data_dir: Path) -> None:
    pid = int((data_dir / "broker.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    while True:  # gone, not just signalled
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


@pytest.mark.faults
@pytest.mark.parametrize("outage_s", [10, 60])
async def test_the_broker_killed_and_restarted(
    own_broker: tuple[str, list[str]], tmp_path: Path, report: FaultReport, outage_s: int
) -> None:
    kafka, args = own_broker
    data_dir = Path(args[-1])

    async def broker_outage(run: Run) -> None:
        # The source goes on: its sends wait, fail after the request timeout and are retried.
        _kill_broker(data_dir)
        run.say(f"broker killed with SIGKILL for {outage_s} s")
        down = time.monotonic()
        exited = None
        while time.monotonic() - down < outage_s:
            await asyncio.sleep(0.5)
            code = run.workers[-1].process.poll() if run.workers[-1].process else None
            if code is not None and exited is None:
                exited = time.monotonic() - down
                run.say(f"worker exited with {code}")
        started = await asyncio.to_thread(broker_cli, "start", *args)
        assert started.returncode == 0, started.stderr
        run.say(f"broker restarted and answering, {time.monotonic() - down:.0f} s after the kill")
        run.notes["worker during the outage"] = (
            "stayed up, waited and resumed"
            if exited is None
            else f"exited after {exited:.0f} s; restarted by the harness as a supervisor"
        )
        if exited is not None:
            run.workers.pop()
            await asyncio.to_thread(run.start_worker)
            run.say("worker restarted")

    settings = worker_settings(kafka, tmp_path, "default")
    history = recent_history(leads=LEADS, seed=47)
    result = await run_fault(
        f"broker outage {outage_s} s", settings, tmp_path, history, broker_outage
    )
    kept(result, report)


@pytest.mark.faults
async def test_a_worker_frozen_past_its_session_timeout_while_another_runs(
    kafka: str, tmp_path: Path, report: FaultReport
) -> None:
    async def freeze(run: Run) -> None:
        frozen = run.workers[0]
        run.freeze(frozen, True)
        run.say("first worker frozen with SIGSTOP")
        await asyncio.sleep(run.settings.session_timeout * 2.5)
        run.freeze(frozen, False)
        run.say(
            f"first worker continued with SIGCONT after {run.settings.session_timeout * 2.5:.0f} s"
        )

    settings = worker_settings(kafka, tmp_path, "default")
    history = recent_history(leads=LEADS, seed=53)
    result = await run_fault("freeze", settings, tmp_path, history, freeze, workers=2)
    first_log = (tmp_path / "worker-1.log").read_text()
    result.notes["fence"] = re.findall(r"ingest fenced: [^;]*", first_log)[:3] or "not tripped"
    result.notes["fence figures"] = re.findall(r"ingest fence: .*", first_log)
    kept(result, report)
