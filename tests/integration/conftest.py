"""One real Kafka broker per test session, started through the project's own command, and a
worker per definition. Nothing here skips: when the broker cannot start, the tests fail."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamproc.domain.events import InputEvent
from streamproc.localkafka import BrokerAccess, broker_access
from streamproc.settings import Settings
from streamproc.simulation import SimulationConfig, simulate
from streamproc.worker_process import WorkerError, WorkerProcess
from tests.integration.kafka_io import OutputCollector

STREAMPROC = Path(sys.executable).parent / "streamproc"
HISTORY_DAYS = 14
WORKER_LOGS: list[Path] = []
"""Every worker log of the session, scanned for personal data at its end."""
EMAIL = re.compile(rb"[\w.+-]+@[\w-]+(\.[\w-]+)+")
RAW_EVENT = re.compile(rb'"(occurred_at|event_id)"')
"""What only a raw input value (or an output) carries: a JSON field name of an event."""
SECRETS: list[bytes] = []
"""The SASL passwords the session's brokers and workers used."""


def personal_data_in(log: Path) -> list[str]:
    """Lines of `log` that carry an email address, a raw event value or a password."""
    return [
        line.decode(errors="replace")
        for line in log.read_bytes().splitlines()
        if EMAIL.search(line) or RAW_EVENT.search(line) or any(s in line for s in SECRETS)
    ]


@pytest.fixture(scope="session", autouse=True)
def no_personal_data_in_worker_logs() -> Iterator[None]:
    """After the session: no worker log line carries an email, a raw event value or a
    password (the tests' profiles carry emails, dead-letter tests send raw values that fail,
    and the secured broker's tests log in with SCRAM)."""
    yield
    found = {str(log): personal_data_in(log) for log in WORKER_LOGS if log.exists()}
    leaks = {log: lines[:3] for log, lines in found.items() if lines}
    assert not leaks, f"worker logs carry personal data or raw values: {leaks}"


def recent_history(leads: int, seed: int) -> list[tuple[str, InputEvent]]:
    """The simulator's (topic, event) history of `leads` over the HISTORY_DAYS up to now."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=HISTORY_DAYS)
    return list(simulate(SimulationConfig(start=start, leads=leads, days=HISTORY_DAYS, seed=seed)))


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


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerAccess]:
    """A second broker, with a PLAINTEXT, a SASL_SSL (SCRAM) and an mTLS listener: its
    address per listener, SCRAM user and certificate files."""
    data_dir = tmp_path_factory.mktemp("secure-kafka")
    port, controller, sasl_ssl, mtls = (str(p) for p in free_ports(4))
    started = broker_cli(
        "start",
        *("--port", port, "--controller-port", controller),
        *("--sasl-ssl-port", sasl_ssl, "--mtls-port", mtls),
        *("--data-dir", str(data_dir)),
    )
    assert started.returncode == 0, f"the secured Kafka broker did not start: {started.stderr}"
    access = broker_access(data_dir)
    if access.scram is not None:
        SECRETS.append(access.scram.password.encode())
    yield access
    broker_cli("stop", "--data-dir", str(data_dir))


def start_worker(settings: Settings, log: Path, timeout: float = 90) -> WorkerProcess:
    """Run `streamproc worker` for `settings` and return once it has joined its group."""
    worker = WorkerProcess(settings, log)
    WORKER_LOGS.append(log)
    worker.start()
    deadline = time.monotonic() + timeout
    try:
        while not worker.is_ready():
            if time.monotonic() > deadline:
                raise worker.not_ready_error(timeout)
            time.sleep(0.2)
    except WorkerError as error:
        worker.stop()
        pytest.fail(str(error))
    return worker


@contextmanager
def two_workers(
    first: Settings, second: Settings, tmp_path: Path
) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    """Two workers of one group (logs `a.log`, `b.log` in `tmp_path`), the second started once
    the first is ready; both stopped, whatever happens."""
    for settings in (first, second):
        settings.data_dir.mkdir(parents=True)
    a = start_worker(first, tmp_path / "a.log")
    try:
        b = start_worker(second, tmp_path / "b.log")
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def worker_settings(kafka: str, tmp_path: Path, definition: str) -> Settings:
    return Settings(
        broker=kafka,
        definition=definition,
        topic_prefix=f"it-{uuid.uuid4().hex[:8]}.",
        data_dir=tmp_path,
        web_port=free_ports(1)[0],
        partitions=4,
        session_timeout=6,  # the broker's minimum: a restart after SIGKILL rejoins quickly
        action_grace=5,  # all inputs of a test are produced within a second or two
    )


def _shared_worker(
    kafka: str, factory: pytest.TempPathFactory, definition: str
) -> Iterator[WorkerProcess]:
    directory = factory.mktemp(f"{definition}-worker")
    worker = start_worker(worker_settings(kafka, directory, definition), directory / "worker.log")
    yield worker
    worker.stop()


async def _collecting(worker: WorkerProcess) -> AsyncIterator[OutputCollector]:
    collector = OutputCollector(worker.settings)
    await collector.start()
    yield collector
    await collector.stop()


@pytest.fixture(scope="session")
def acme_worker(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One worker on the Acme definition, shared by the scenarios (each uses its own leads)."""
    yield from _shared_worker(kafka, tmp_path_factory, "acme")


@pytest.fixture(scope="session")
def default_worker(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One worker on the default definition (several sales queues), for lifecycle scenarios."""
    yield from _shared_worker(kafka, tmp_path_factory, "default")


@pytest.fixture
async def outputs(acme_worker: WorkerProcess) -> AsyncIterator[OutputCollector]:
    async for collector in _collecting(acme_worker):
        yield collector


@pytest.fixture
async def default_outputs(default_worker: WorkerProcess) -> AsyncIterator[OutputCollector]:
    async for collector in _collecting(default_worker):
        yield collector
