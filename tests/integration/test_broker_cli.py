"""`streamproc broker start|status|stop` against a real Kafka broker, through the real CLI.

These tests fail (never skip) when the broker cannot start: java, mvn (for a cold jar cache)
and, for a cold cache, network access to Maven Central are requirements of the test suite.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamproc.localkafka import (
    DEFAULT_CACHE_DIR,
    BrokerConfig,
    broker_status,
    is_cache_complete,
    start_broker,
    stop_broker,
)
from tests.integration.conftest import broker_cli, free_ports

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A broker data dir whose broker is stopped after the test, whatever happened."""
    directory = tmp_path / "kafka"
    yield directory
    stop_broker(BrokerConfig(directory))


@pytest.fixture
def ports() -> list[str]:
    return [str(port) for port in free_ports(2)]


def _start_args(ports: list[str], data_dir: Path) -> list[str]:
    return ["start", "--port", ports[0], "--controller-port", ports[1], "--data-dir", str(data_dir)]


def _pid(start_output: str) -> int:
    match = re.search(r"running: pid (\d+), bootstrap servers 127\.0\.0\.1:\d+", start_output)
    assert match, start_output
    return int(match.group(1))


async def produce_one(bootstrap: str, topic: str, value: bytes, **security: Any) -> None:
    """Send one record; `security` holds aiokafka's security_protocol, sasl_*, ssl_context."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **security)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def consume_one(bootstrap: str, topic: str, **security: Any) -> bytes | None:
    """The topic's first record's value, read by a new consumer group."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        **security,
    )
    await consumer.start()
    try:
        value: bytes | None = (await asyncio.wait_for(consumer.getone(), timeout=30)).value
        return value
    finally:
        await consumer.stop()


async def test_start_status_roundtrip_stop_restart(
    data_dir: Path, ports: list[str], tmp_path: Path
) -> None:
    bootstrap = f"127.0.0.1:{ports[0]}"
    started = broker_cli(*_start_args(ports, data_dir))
    assert started.returncode == 0, started.stderr
    pid = _pid(started.stdout)

    status = broker_cli("status", "--data-dir", str(data_dir))
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.splitlines() == [
        "running",
        f"pid: {pid}",
        f"bootstrap servers: {bootstrap}",
        f"data dir: {data_dir.resolve()}",
    ]

    await produce_one(bootstrap, "roundtrip", b"hello")
    assert await consume_one(bootstrap, "roundtrip") == b"hello"

    again = broker_cli(*_start_args(ports, data_dir))
    assert again.returncode == 0, again.stderr
    assert _pid(again.stdout) == pid  # idempotent: the running broker is reused

    stopped = broker_cli("stop", "--data-dir", str(data_dir))
    assert (stopped.returncode, stopped.stdout) == (0, "stopped\n"), stopped.stderr
    status = broker_cli("status", "--data-dir", str(data_dir))
    assert status.returncode == 3
    assert status.stdout.splitlines()[:2] == ["stopped", "pid: -"]
    assert not (data_dir / "broker.pid").exists()

    # Restart with java but no mvn on PATH: the complete jar cache must be enough.
    assert is_cache_complete(DEFAULT_CACHE_DIR)
    java = shutil.which("java")
    assert java is not None
    java_only = tmp_path / "java-only"
    java_only.mkdir()
    (java_only / "java").symlink_to(Path(java).resolve())
    restarted = broker_cli(
        *_start_args(ports, data_dir), env={**os.environ, "PATH": str(java_only)}
    )
    assert restarted.returncode == 0, restarted.stderr
    assert "not cached yet" not in restarted.stderr
    assert _pid(restarted.stdout) != pid
    assert await consume_one(bootstrap, "roundtrip") == b"hello"  # data survived the restart

    assert broker_cli("stop", "--data-dir", str(data_dir)).returncode == 0


def test_broker_exiting_during_startup_is_a_one_line_error(
    data_dir: Path, ports: list[str]
) -> None:
    started = broker_cli(*_start_args(ports, data_dir))
    assert started.returncode == 0, started.stderr
    assert broker_cli("stop", "--data-dir", str(data_dir)).returncode == 0
    # A node id that contradicts the formatted storage makes Kafka exit right after launch.
    meta = data_dir / "logs" / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=2"))

    failed = broker_cli(*_start_args(ports, data_dir))

    assert failed.returncode == 1
    assert failed.stderr.startswith("error: the Kafka broker exited during startup: ")
    assert "Stored node id 2 doesn't match previous node id 1" in failed.stderr
    assert f"(log: {data_dir / 'broker.log'})" in failed.stderr
    assert failed.stderr.count("\n") == 1
    assert broker_cli("status", "--data-dir", str(data_dir)).returncode == 3


async def test_api_works_from_inside_a_running_event_loop(data_dir: Path, ports: list[str]) -> None:
    # Test fixtures and the demo call the API from async code; it must not need the loop.
    config = BrokerConfig(data_dir, port=int(ports[0]), controller_port=int(ports[1]))
    status = start_broker(config)
    assert status.running
    assert status.bootstrap_servers == config.bootstrap_servers
    assert broker_status(config) == status
    await produce_one(config.bootstrap_servers, "from-api", b"x")
    assert stop_broker(config) is True
    assert stop_broker(config) is False
