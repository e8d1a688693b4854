"""The parts of streamproc.localkafka that need neither a JVM nor the network."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamproc.localkafka import (
    BrokerConfig,
    LocalKafkaError,
    broker_status,
    fetch_kafka_jars,
    is_cache_complete,
    start_broker,
    stop_broker,
)
from streamproc.localkafka.broker import new_cluster_id, render_server_properties
from streamproc.localkafka.cli import broker
from streamproc.localkafka.fetch import REQUIRED_JARS, last_meaningful_line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _script(directory: Path, name: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only a `java` stub: these tests must never start a JVM or run mvn."""
    bin_dir = tmp_path / "bin"
    _script(bin_dir, "java", "exit 99")
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


@pytest.fixture
def config(tmp_path: Path) -> BrokerConfig:
    port = _free_port()
    return BrokerConfig(
        tmp_path / "data", port=port, controller_port=_free_port(), cache_dir=tmp_path / "cache"
    )


@pytest.fixture
def unrelated_pid() -> Iterator[int]:
    """A live process that is not a Kafka broker."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_properties_listen_only_on_loopback_with_given_ports(tmp_path: Path) -> None:
    config = BrokerConfig(tmp_path, port=29092, controller_port=29999)
    props = dict(
        line.split("=", 1) for line in render_server_properties(config).splitlines() if line
    )

    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29999"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:29999"
    assert props["log.dirs"] == str(tmp_path.resolve() / "logs")
    addresses = re.findall(r"([\w.-]+):(\d+)", render_server_properties(config))
    assert {host for host, _ in addresses} == {"127.0.0.1"}
    assert config.bootstrap_servers == "127.0.0.1:29092"


def test_controller_port_defaults_to_port_plus_one(tmp_path: Path) -> None:
    assert BrokerConfig(tmp_path, port=30000).quorum_port == 30001


@pytest.mark.parametrize(("port", "controller_port"), [(0, None), (9092, 9092), (65535, None)])
def test_invalid_ports_are_rejected(tmp_path: Path, port: int, controller_port: int) -> None:
    with pytest.raises(LocalKafkaError, match="invalid ports"):
        BrokerConfig(tmp_path, port=port, controller_port=controller_port)


def test_cluster_id_looks_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", cid) for cid in ids)


@pytest.mark.parametrize("content", ["not a pid\n", "dead", "unrelated"])
def test_stale_pid_file_is_removed_and_nothing_is_signalled(
    config: BrokerConfig, unrelated_pid: int, content: str
) -> None:
    if content == "dead":
        finished = subprocess.Popen(["true"])
        finished.wait()
        content = str(finished.pid)
    elif content == "unrelated":
        content = str(unrelated_pid)
    pid_file = config.data_dir / "broker.pid"
    config.data_dir.mkdir(parents=True)
    pid_file.write_text(content)

    assert broker_status(config).running is False
    assert not pid_file.exists()
    pid_file.write_text(content)
    assert stop_broker(config) is False
    assert not pid_file.exists()
    os.kill(unrelated_pid, 0)  # still alive: an unrelated process is never signalled


@pytest.mark.parametrize("which", ["port", "controller_port"])
def test_port_in_use_is_reported(fake_bin: Path, config: BrokerConfig, which: str) -> None:
    taken = config.port if which == "port" else config.quorum_port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", taken))
        sock.listen()
        with pytest.raises(LocalKafkaError) as raised:
            start_broker(config)
    option = "--port" if which == "port" else "--controller-port"
    assert str(raised.value) == (
        f"127.0.0.1:{taken} is already in use by another process: stop it or choose "
        f"another port with {option}"
    )


def test_java_missing(
    tmp_path: Path, config: BrokerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(LocalKafkaError, match=r"^java not found on PATH: install a Java 17\+"):
        start_broker(config)


def test_mvn_missing_with_empty_cache(fake_bin: Path, config: BrokerConfig) -> None:
    with pytest.raises(LocalKafkaError, match=r"^mvn not found on PATH") as raised:
        start_broker(config)
    assert "\n" not in str(raised.value)


def test_mvn_failure_names_the_cause_and_the_log(fake_bin: Path, tmp_path: Path) -> None:
    _script(
        fake_bin,
        "mvn",
        # Maven writes ANSI resets before its first line even with -B.
        'printf "\\033[0m\\033[0m[ERROR] Failed to execute goal: Could not resolve '
        'dependencies -> [Help 1]\\n"\n'
        'echo "[ERROR] "\necho "[ERROR] Re-run Maven using the -X switch"\nexit 1',
    )
    cache = tmp_path / "cache"
    with pytest.raises(LocalKafkaError) as raised:
        fetch_kafka_jars(cache)
    assert str(raised.value) == (
        "mvn failed (exit 1) resolving Kafka 4.1.1 jars: Failed to execute goal: Could not "
        f"resolve dependencies; full output in {cache / 'mvn.log'}"
    )
    assert not is_cache_complete(cache)


def test_complete_cache_needs_no_mvn(fake_bin: Path, tmp_path: Path) -> None:
    calls = tmp_path / "mvn-calls"
    # A fake mvn that "copies" empty jars into -DoutputDirectory and counts its calls.
    parse_out = 'for arg; do case "$arg" in -DoutputDirectory=*) out="${arg#*=}";; esac; done'
    create_jars = "; ".join(f': > "$out/{jar}"' for jar in REQUIRED_JARS)
    _script(fake_bin, "mvn", f'echo call >> "{calls}"\n{parse_out}\n{create_jars}')
    cache = tmp_path / "cache"
    assert fetch_kafka_jars(cache) == cache
    assert is_cache_complete(cache)

    (fake_bin / "mvn").unlink()  # a second fetch must not even look for mvn
    assert fetch_kafka_jars(cache) == cache
    assert calls.read_text() == "call\n"


def test_incomplete_copy_is_not_trusted(fake_bin: Path, tmp_path: Path) -> None:
    _script(fake_bin, "mvn", "exit 0")
    with pytest.raises(
        LocalKafkaError, match=r"mvn succeeded but .* lacks kafka_2\.13-4\.1\.1\.jar"
    ):
        fetch_kafka_jars(tmp_path / "cache")


def test_last_meaningful_line_prefers_the_cause(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    log.write_text(
        "[2026-01-01] WARN something harmless (x)\n"
        "[2026-01-01] ERROR Exiting Kafka due to fatal exception (kafka.Kafka)\n"
        "java.lang.RuntimeException: Stored node id 2 doesn't match previous node id 1\n"
        "\tat kafka.Kafka.main(Kafka.scala:1)\n\n"
    )
    assert last_meaningful_line(log).startswith("java.lang.RuntimeException: Stored node id 2")
    log.write_text(
        "Invalid maximum heap size: -Xmxbogus\n"
        "Error: Could not create the Java Virtual Machine.\n"
        "Error: A fatal exception has occurred. Program will exit.\n"
    )
    assert last_meaningful_line(log) == "Invalid maximum heap size: -Xmxbogus"
    assert last_meaningful_line(tmp_path / "absent.log").startswith("(no log at ")


def test_cli_status_of_a_stopped_broker_exits_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(broker, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert result.output.splitlines()[0] == "stopped"
    assert f"data dir: {tmp_path.resolve()}" in result.output


def test_cli_start_prints_one_line_error(
    tmp_path: Path, config: BrokerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    args = ["--port", str(config.port), "--data-dir", str(config.data_dir)]
    result = CliRunner().invoke(broker, ["start", *args, "--cache-dir", str(config.cache_dir)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Kafka 4.1.1 jars are not cached yet")
    assert lines[1].startswith("error: java not found on PATH")
    assert len(lines) == 2
