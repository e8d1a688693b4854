"""One real Kafka broker per test session, started through the project's own command, and a
worker per definition. Nothing here skips: when the broker cannot start, the tests fail."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamproc.settings import Settings
from tests.integration.kafka_io import OutputCollector

STREAMPROC = Path(sys.executable).parent / "streamproc"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:  # all bound at once, so the ports differ
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def broker_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STREAMPROC), "broker", *args],
        capture_output=True,
        text=True,
        timeout=300,  # a cold jar cache is resolved on the first start
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a broker started with `streamproc broker start`."""
    data_dir = tmp_path_factory.mktemp("kafka")
    port, controller = free_ports(2)
    started = broker_cli(
        "start",
        "--port",
        str(port),
        "--controller-port",
        str(controller),
        "--data-dir",
        str(data_dir),
    )
    assert started.returncode == 0, f"the local Kafka broker did not start: {started.stderr}"
    yield f"127.0.0.1:{port}"
    broker_cli("stop", "--data-dir", str(data_dir))


@dataclass
class RunningWorker:
    settings: Settings
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def start_worker(settings: Settings, log: Path, timeout: float = 90) -> RunningWorker:
    """Run `streamproc worker` for `settings` and return once it has joined its group."""
    env = {
        **os.environ,
        **{f"STREAMPROC_{k.upper()}": str(v) for k, v in settings.model_dump().items()},
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(STREAMPROC), "worker"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    worker = RunningWorker(settings, process, log)
    deadline = time.monotonic() + timeout
    while "[^Worker]: Ready" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(
                f"worker did not become ready (exit {process.returncode}); log tail:\n{tail}"
            )
        time.sleep(0.2)
    return worker


def worker_settings(kafka: str, tmp_path: Path, definition: str) -> Settings:
    return Settings(
        broker=kafka,
        definition=definition,
        topic_prefix=f"it-{uuid.uuid4().hex[:8]}.",
        data_dir=tmp_path,
        web_port=free_ports(1)[0],
        partitions=4,
        session_timeout=6,  # the broker's minimum: a restart after SIGKILL rejoins quickly
    )


@pytest.fixture(scope="session")
def acme_worker(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    """One worker on the Acme definition, shared by the scenarios (each uses its own leads)."""
    directory = tmp_path_factory.mktemp("acme-worker")
    worker = start_worker(worker_settings(kafka, directory, "acme"), directory / "worker.log")
    yield worker
    worker.stop()


@pytest.fixture
async def outputs(acme_worker: RunningWorker) -> AsyncIterator[OutputCollector]:
    collector = OutputCollector(acme_worker.settings)
    await collector.start()
    yield collector
    await collector.stop()
