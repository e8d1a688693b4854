"""Format, start, check and stop a single-node KRaft Kafka broker bound to 127.0.0.1.

Everything about one broker lives in its data directory: `server.properties`, `log4j2.xml`,
`logs/` (Kafka's log dirs), `broker.log` (the JVM's output), `format.log`, `broker.pid` and
`.start.lock`.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from streamproc.localkafka.fetch import (
    DEFAULT_CACHE_DIR,
    LocalKafkaError,
    fetch_kafka_jars,
    file_lock,
    last_meaningful_line,
)
from streamproc.localkafka.process import (
    launch_detached,
    live_pid,
    port_in_use,
    stop_process,
    wait_ready,
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
            if port_in_use(HOST, port):
                raise LocalKafkaError(
                    f"{HOST}:{port} is already in use by another process: stop it or choose "
                    f"another port with {option}"
                )
        lib = fetch_kafka_jars(config.cache_dir)
        config.properties_file.write_text(render_server_properties(config))
        (config.data_dir / "log4j2.xml").write_text(_LOG4J2_XML)
        _format_if_needed(config, java, lib)
        command = [*_java_prefix(config, java, lib), "kafka.Kafka", str(config.properties_file)]
        pid = launch_detached(command, config.data_dir / "broker.log", _pid_file(config))
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
        stop_process(pid, config.properties_file, timeout)
    _pid_file(config).unlink(missing_ok=True)
    return pid is not None


def _pid_file(config: BrokerConfig) -> Path:
    return config.data_dir / "broker.pid"


def _live_pid(config: BrokerConfig) -> int | None:
    return live_pid(_pid_file(config), config.properties_file)


def _wait_ready(config: BrokerConfig, pid: int, deadline: float, timeout: float) -> None:
    log = config.data_dir / "broker.log"
    wait_ready(pid, (HOST, config.port), log, deadline, timeout)


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
