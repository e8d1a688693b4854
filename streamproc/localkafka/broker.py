"""Format, start, check and stop a single-node KRaft Kafka broker bound to 127.0.0.1.

Everything about one broker lives in its data directory: `server.properties`, `log4j2.xml`,
`logs/` (Kafka's log dirs), `broker.log` (the JVM's output), `format.log`, `broker.pid` and
`.start.lock`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from streamproc.localkafka.fetch import (
    DEFAULT_CACHE_DIR,
    LocalKafkaError,
    fetch_kafka_jars,
    file_lock,
    last_meaningful_line,
)

HOST = "127.0.0.1"
_LOG4J2_XML = """<Configuration status="WARN">
  <Appenders>
    <Console name="console" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="console"/></Root></Loggers>
</Configuration>
"""
# The broker must outlive the caller and must not become its zombie (a test session keeps
# running after starting it): this launcher starts it in a new session and exits at once, so
# the broker is re-parented to init. `-I` keeps the caller's PYTHON* variables out.
_LAUNCHER = """import subprocess, sys
with open(sys.argv[1], "ab") as log:
    proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
print(proc.pid)
"""


@dataclass(frozen=True)
class BrokerConfig:
    """Where a local broker keeps its state, which ports it listens on and its JVM heap."""

    data_dir: Path
    port: int = 9092
    controller_port: int | None = None  # None means port + 1
    cache_dir: Path = DEFAULT_CACHE_DIR
    heap: str = "512m"

    def __post_init__(self) -> None:
        # Absolute paths, because the data dir in the broker's command line is what ties a
        # running process to this config.
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser().resolve())
        ports = (self.port, self.quorum_port)
        if not all(0 < p < 65536 for p in ports) or self.port == self.quorum_port:
            raise LocalKafkaError(f"invalid ports {ports}: use two different ports in 1-65535")

    @property
    def quorum_port(self) -> int:
        """The controller listener's port."""
        return self.port + 1 if self.controller_port is None else self.controller_port

    @property
    def bootstrap_servers(self) -> str:
        """The address clients connect to."""
        return f"{HOST}:{self.port}"

    @property
    def properties_file(self) -> Path:
        """The broker's `server.properties`; its path also identifies the broker process."""
        return self.data_dir / "server.properties"


@dataclass(frozen=True)
class BrokerStatus:
    """Whether the broker of a data dir is running, and how to reach it."""

    running: bool
    pid: int | None
    bootstrap_servers: str
    data_dir: Path


def render_server_properties(config: BrokerConfig) -> str:
    """Return `server.properties` for one combined broker+controller listening on 127.0.0.1."""
    port, cport = config.port, config.quorum_port
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={HOST}:{cport}
listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}
advertised.listeners=PLAINTEXT://{HOST}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={config.data_dir / "logs"}
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.partitions=4
"""


def new_cluster_id() -> str:
    """Return a random Kafka cluster id (22 base64url characters, like `random-uuid`)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):  # StorageTool would parse it as an option
            return cluster_id


def start_broker(config: BrokerConfig, timeout: float = 90.0) -> BrokerStatus:
    """Start the broker for `config` and return once it answers a metadata request.

    If this data dir's broker is already running, waits for it to answer and returns its
    status. `timeout` bounds the wait after launch; jar resolution has its own limit.
    """
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError(
            "java not found on PATH: install a Java 17+ runtime "
            "(e.g. apt-get install openjdk-17-jre-headless)"
        )
    deadline = time.monotonic() + timeout
    # Serialises concurrent starts of one data dir, e.g. parallel test workers.
    with file_lock(config.data_dir / ".start.lock"):
        pid = _live_pid(config)
        if pid is not None:
            if config.properties_file.read_text() != render_server_properties(config):
                raise LocalKafkaError(
                    f"a broker is already running from {config.data_dir} with other settings "
                    f"({broker_status(config).bootstrap_servers}): stop it first with "
                    f"`streamproc broker stop --data-dir {config.data_dir}`"
                )
            _wait_ready(config, pid, deadline, timeout)
            return broker_status(config)
        for port, option in ((config.port, "--port"), (config.quorum_port, "--controller-port")):
            if _port_in_use(port):
                raise LocalKafkaError(
                    f"{HOST}:{port} is already in use by another process: stop it or choose "
                    f"another port with {option}"
                )
        lib = fetch_kafka_jars(config.cache_dir)
        config.properties_file.write_text(render_server_properties(config))
        (config.data_dir / "log4j2.xml").write_text(_LOG4J2_XML)
        _format_if_needed(config, java, lib)
        pid = _launch(config, java, lib)
        try:
            _wait_ready(config, pid, deadline, timeout)
        except LocalKafkaError:
            stop_broker(config, timeout=10.0)  # leave nothing half-started behind
            raise
    return BrokerStatus(True, pid, config.bootstrap_servers, config.data_dir)


def broker_status(config: BrokerConfig) -> BrokerStatus:
    """Report whether the broker of `config.data_dir` runs; a stale pid file is removed.

    The address comes from the data dir's `server.properties` when there is one, so the
    status is right even if the broker was started on other ports than `config` names.
    """
    pid = _live_pid(config)
    bootstrap = config.bootstrap_servers
    if config.properties_file.is_file():
        for line in config.properties_file.read_text().splitlines():
            if line.startswith("advertised.listeners=PLAINTEXT://"):
                bootstrap = line.removeprefix("advertised.listeners=PLAINTEXT://")
    return BrokerStatus(pid is not None, pid, bootstrap, config.data_dir)


def stop_broker(config: BrokerConfig, timeout: float = 30.0) -> bool:
    """Stop the broker of `config.data_dir`: SIGTERM, wait `timeout`, then SIGKILL.

    Returns True if a broker was running. The pid file is removed either way.
    """
    pid = _live_pid(config)
    if pid is not None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            end = time.monotonic() + wait
            while _is_our_broker(pid, config) and time.monotonic() < end:
                time.sleep(0.1)
            if not _is_our_broker(pid, config):
                break
        else:
            raise LocalKafkaError(f"broker pid {pid} survived SIGKILL: check it with ps")
    (config.data_dir / "broker.pid").unlink(missing_ok=True)
    return pid is not None


def _live_pid(config: BrokerConfig) -> int | None:
    pid_file = config.data_dir / "broker.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and _is_our_broker(pid, config):
        return pid
    # The pid is gone or was reused by another program: never signal it.
    pid_file.unlink(missing_ok=True)
    return None


def _is_our_broker(pid: int, config: BrokerConfig) -> bool:
    command = _process_command(pid)
    return command is not None and command.endswith(f" kafka.Kafka {config.properties_file}")


def _process_command(pid: int) -> str | None:
    """Return the command line of a live process, or None if it is gone or a zombie (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    # The state follows the command name in parentheses, which may itself hold spaces.
    if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
        return None
    return " ".join(arg.decode(errors="replace") for arg in argv if arg)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Kafka binds with SO_REUSEADDR too, so connections of a just-stopped broker lingering
        # in TIME_WAIT do not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def _format_if_needed(config: BrokerConfig, java: str, lib: Path) -> None:
    logs = config.data_dir / "logs"
    if (logs / "meta.properties").is_file():  # Kafka's own record of a formatted log dir
        return
    output = config.data_dir / "format.log"
    tool = ["kafka.tools.StorageTool", "format", "--standalone", "-t", new_cluster_id()]
    command = [*_java_prefix(config, java, lib), *tool, "-c", str(config.properties_file)]
    with output.open("w") as out:
        try:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=120
            )
        except subprocess.TimeoutExpired:
            raise LocalKafkaError(
                f"formatting Kafka storage in {logs} took over 120 s: see {output}"
            ) from None
    if result.returncode != 0:
        raise LocalKafkaError(
            f"formatting Kafka storage in {logs} failed: {last_meaningful_line(output)} "
            f"(output in {output})"
        )


def _java_prefix(config: BrokerConfig, java: str, lib: Path) -> list[str]:
    return [
        java,
        f"-Xmx{config.heap}",
        "-cp",
        f"{lib}/*",
        f"-Dlog4j2.configurationFile={config.data_dir / 'log4j2.xml'}",
    ]


def _launch(config: BrokerConfig, java: str, lib: Path) -> int:
    log = config.data_dir / "broker.log"
    if log.exists():  # keep the previous run's log: it may explain why that run ended
        log.replace(log.with_name("broker.log.1"))
    command = [*_java_prefix(config, java, lib), "kafka.Kafka", str(config.properties_file)]
    result = subprocess.run(
        [sys.executable, "-I", "-c", _LAUNCHER, str(log), *command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise LocalKafkaError(f"could not launch the Kafka broker with {java}: {reason}")
    pid = int(result.stdout)
    (config.data_dir / "broker.pid").write_text(f"{pid}\n")
    return pid


def _wait_ready(config: BrokerConfig, pid: int, deadline: float, timeout: float) -> None:
    log = config.data_dir / "broker.log"
    while _is_our_broker(pid, config):
        # A plain connect first: aiokafka logs an error for every refused bootstrap.
        with socket.socket() as sock:
            sock.settimeout(1.0)
            port_open = sock.connect_ex((HOST, config.port)) == 0
        if port_open and _metadata_answers(config.bootstrap_servers):
            return
        if time.monotonic() > deadline:
            raise LocalKafkaError(
                f"the Kafka broker did not answer on {config.bootstrap_servers} within "
                f"{timeout:.0f} s: {last_meaningful_line(log)} (log: {log})"
            )
        time.sleep(0.25)
    raise LocalKafkaError(
        f"the Kafka broker exited during startup: {last_meaningful_line(log)} (log: {log})"
    )


def _metadata_answers(bootstrap_servers: str) -> bool:
    # In a thread with its own event loop, so callers may already be running one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(_describe_cluster(bootstrap_servers))).result()


async def _describe_cluster(bootstrap_servers: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient  # lazy: keeps `streamproc --help` fast
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except KafkaError:
        return False
    finally:
        await admin.close()
    return bool(cluster["brokers"])
