"""Format, start, check and stop a single-node KRaft Kafka broker bound to 127.0.0.1.

Everything about one broker lives in its data directory: `server.properties`, `log4j2.xml`,
`logs/` (Kafka's log dirs), `broker.log` (the JVM's output), `format.log`, `broker.pid`,
`.start.lock`, `scram-user.json` (the SCRAM user made at format) and, with a TLS listener,
`tls/` (PEM certificates).

Clients always have a PLAINTEXT listener, which is also the inter-broker one, so the broker's
own plumbing needs no credentials; a SASL_SSL (SCRAM) and an mTLS listener can be added.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
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
from streamproc.localkafka.scram import (
    DEFAULT_SCRAM_USER,
    SCRAM_MECHANISMS,
    check_user_name,
    create_scram_user,
    read_scram_user,
    storage_format_arguments,
)
from streamproc.localkafka.tls import ensure_tls_files, tls_files

HOST = "127.0.0.1"
PLAINTEXT = "PLAINTEXT"
SASL_SSL = "SASL_SSL"
MTLS = "MTLS"  # a listener name; its security protocol is SSL
_SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
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
class Listener:
    """A client listener: Kafka's name for it, its security protocol and its port."""

    name: str
    protocol: str
    port: int

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass(frozen=True)
class BrokerConfig:
    """Where a local broker keeps its state, which ports it listens on and its JVM heap."""

    data_dir: Path
    port: int = 9092
    controller_port: int | None = None  # None means port + 1
    cache_dir: Path = DEFAULT_CACHE_DIR
    heap: str = "512m"
    sasl_ssl_port: int | None = None  # a SASL_SSL listener with SCRAM-SHA-512 and -256
    mtls_port: int | None = None  # a TLS listener that requires a client certificate
    scram_user: str = DEFAULT_SCRAM_USER

    def __post_init__(self) -> None:
        # Absolute paths, because the data dir in the broker's command line is what ties a
        # running process to this config.
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser().resolve())
        ports = (self.quorum_port, *(listener.port for listener in self.listeners))
        if not all(0 < p < 65536 for p in ports) or len(set(ports)) != len(ports):
            raise LocalKafkaError(f"invalid ports {ports}: use different ports in 1-65535")
        check_user_name(self.scram_user)

    @property
    def quorum_port(self) -> int:
        """The controller listener's port."""
        return self.port + 1 if self.controller_port is None else self.controller_port

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The listeners clients connect to, PLAINTEXT first."""
        listeners = [Listener(PLAINTEXT, "PLAINTEXT", self.port)]
        if self.sasl_ssl_port is not None:
            listeners.append(Listener(SASL_SSL, "SASL_SSL", self.sasl_ssl_port))
        if self.mtls_port is not None:
            listeners.append(Listener(MTLS, "SSL", self.mtls_port))
        return tuple(listeners)

    @property
    def uses_tls(self) -> bool:
        return self.sasl_ssl_port is not None or self.mtls_port is not None

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
    bootstrap_servers: str  # the PLAINTEXT listener's address
    data_dir: Path
    listeners: Mapping[str, str] = field(default_factory=dict)  # listener name to address


def render_server_properties(config: BrokerConfig) -> str:
    """Return `server.properties` for one combined broker+controller listening on 127.0.0.1."""
    cport = config.quorum_port
    plaintext, *secured = config.listeners
    # The controller's listener goes second, as it always did for a PLAINTEXT-only broker:
    # the rendered text is compared with the running broker's, so it must not change.
    listeners = [plaintext, Listener("CONTROLLER", "PLAINTEXT", cport), *secured]
    bind = ",".join(f"{item.name}://{item.address}" for item in listeners)
    advertised = ",".join(f"{item.name}://{item.address}" for item in config.listeners)
    protocols = ",".join(f"{item.name}:{item.protocol}" for item in listeners)
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={HOST}:{cport}
listeners={bind}
advertised.listeners={advertised}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map={protocols}
log.dirs={config.data_dir / "logs"}
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.partitions=4
{_render_security(config)}"""


def _render_security(config: BrokerConfig) -> str:
    lines = []
    if config.uses_tls:
        # PEM files straight from the data dir: no keytool, no keystore passwords.
        tls = tls_files(config.data_dir)
        lines += [
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={tls.broker_keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={tls.ca}",
        ]
    if config.sasl_ssl_port is not None:
        lines.append(f"sasl.enabled.mechanisms={','.join(SCRAM_MECHANISMS)}")
        # The server side of SCRAM needs a login module per mechanism on the listener, but no
        # user in it: users are in the metadata log.
        prefix = f"listener.name.{SASL_SSL.lower()}"
        lines += [
            f"{prefix}.{mechanism.lower()}.sasl.jaas.config={_SCRAM_LOGIN_MODULE} required;"
            for mechanism in SCRAM_MECHANISMS
        ]
    if config.mtls_port is not None:
        lines.append(f"listener.name.{MTLS.lower()}.ssl.client.auth=required")
    return "".join(f"{line}\n" for line in lines)


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
        for port, option in _port_options(config):
            if port_in_use(HOST, port):
                raise LocalKafkaError(
                    f"{HOST}:{port} is already in use by another process: stop it or choose "
                    f"another port with {option}"
                )
        lib = fetch_kafka_jars(config.cache_dir)
        config.properties_file.write_text(render_server_properties(config))
        (config.data_dir / "log4j2.xml").write_text(_LOG4J2_XML)
        if config.uses_tls:
            ensure_tls_files(config.data_dir)
        _format_if_needed(config, java, lib)
        command = [*_java_prefix(config, java, lib), "kafka.Kafka", str(config.properties_file)]
        pid = launch_detached(command, config.data_dir / "broker.log", _pid_file(config))
        try:
            _wait_ready(config, pid, deadline, timeout)
        except LocalKafkaError:
            stop_broker(config, timeout=10.0)  # leave nothing half-started behind
            raise
    return BrokerStatus(True, pid, config.bootstrap_servers, config.data_dir, _addresses(config))


def broker_status(config: BrokerConfig) -> BrokerStatus:
    """Report whether the broker of `config.data_dir` runs; a stale pid file is removed.

    The address comes from the data dir's `server.properties` when there is one, so the
    status is right even if the broker was started on other ports than `config` names.
    """
    pid = _live_pid(config)
    addresses = advertised_addresses(config.properties_file) or _addresses(config)
    return BrokerStatus(pid is not None, pid, addresses[PLAINTEXT], config.data_dir, addresses)


def advertised_addresses(properties_file: Path) -> dict[str, str] | None:
    """Listener name to address, as written in a `server.properties`; None if there is none."""
    if not properties_file.is_file():
        return None
    for line in properties_file.read_text().splitlines():
        if line.startswith("advertised.listeners="):
            entries = line.removeprefix("advertised.listeners=").split(",")
            pairs = (entry.partition("://") for entry in entries)
            return {name: address for name, _, address in pairs}
    return None


def stop_broker(config: BrokerConfig, timeout: float = 30.0) -> bool:
    """Stop the broker of `config.data_dir`: SIGTERM, wait `timeout`, then SIGKILL.

    Returns True if a broker was running. The pid file is removed either way.
    """
    pid = _live_pid(config)
    if pid is not None:
        stop_process(pid, config.properties_file, timeout)
    _pid_file(config).unlink(missing_ok=True)
    return pid is not None


def _addresses(config: BrokerConfig) -> dict[str, str]:
    return {listener.name: listener.address for listener in config.listeners}


def _port_options(config: BrokerConfig) -> list[tuple[int, str]]:
    """Each port with the command-line option that chooses it, for error messages."""
    options = {PLAINTEXT: "--port", SASL_SSL: "--sasl-ssl-port", MTLS: "--mtls-port"}
    return [
        (config.port, "--port"),
        (config.quorum_port, "--controller-port"),
        *((listener.port, options[listener.name]) for listener in config.listeners[1:]),
    ]


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
        _check_scram_user(config)
        return
    output = config.data_dir / "format.log"
    # Every broker gets its SCRAM user at format, so a SASL_SSL listener can be added later.
    scram = storage_format_arguments(create_scram_user(config.data_dir, config.scram_user))
    tool = ["kafka.tools.StorageTool", "format", "--standalone", "-t", new_cluster_id(), *scram]
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


def _check_scram_user(config: BrokerConfig) -> None:
    """A formatted storage's SCRAM user can no longer change: say so instead of failing logins."""
    if config.sasl_ssl_port is None:
        return
    user = read_scram_user(config.data_dir)
    if user is None:
        raise LocalKafkaError(
            f"the Kafka storage in {config.data_dir} was formatted without a SCRAM user, "
            "so the SASL_SSL listener would refuse every login: use a new --data-dir"
        )
    if user.username != config.scram_user:
        raise LocalKafkaError(
            f"the Kafka storage in {config.data_dir} was formatted with the SCRAM user "
            f"{user.username!r}, not {config.scram_user!r}: use that name or a new --data-dir"
        )


def _java_prefix(config: BrokerConfig, java: str, lib: Path) -> list[str]:
    return [
        java,
        f"-Xmx{config.heap}",
        "-cp",
        f"{lib}/*",
        f"-Dlog4j2.configurationFile={config.data_dir / 'log4j2.xml'}",
    ]
