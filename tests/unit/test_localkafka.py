"""The parts of streamproc.localkafka that need neither a JVM nor the network."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from streamproc.localkafka import (
    BrokerConfig,
    LocalKafkaError,
    broker_access,
    broker_status,
    fetch_kafka_jars,
    is_cache_complete,
    start_broker,
    stop_broker,
)
from streamproc.localkafka.broker import new_cluster_id, render_server_properties
from streamproc.localkafka.cli import broker
from streamproc.localkafka.fetch import REQUIRED_JARS, last_meaningful_line, render_pom
from streamproc.localkafka.scram import create_scram_user, read_scram_user, storage_format_arguments
from streamproc.localkafka.tls import ensure_tls_files


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


def _properties(config: BrokerConfig) -> dict[str, str]:
    text = render_server_properties(config)
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def _secure_config(
    tmp_path: Path, sasl_ssl_port: int | None = None, mtls_port: int | None = None
) -> BrokerConfig:
    return BrokerConfig(
        tmp_path,
        port=29092,
        controller_port=29999,
        sasl_ssl_port=sasl_ssl_port,
        mtls_port=mtls_port,
    )


def test_plaintext_broker_has_no_security_settings(tmp_path: Path) -> None:
    props = _properties(BrokerConfig(tmp_path, port=29092, controller_port=29999))
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert not [key for key in props if key.startswith(("ssl.", "sasl.", "listener.name."))]


def test_sasl_ssl_listener_uses_scram_and_pem_files(tmp_path: Path) -> None:
    props = _properties(_secure_config(tmp_path, sasl_ssl_port=29093))
    tls = tmp_path.resolve() / "tls"

    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29999,SASL_SSL://127.0.0.1:29093"
    )
    assert props["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:29092,SASL_SSL://127.0.0.1:29093"
    )
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
    )
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,SCRAM-SHA-256"
    login = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    assert props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"] == login
    assert props["listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config"] == login
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.keystore.location"] == str(tls / "broker.pem")
    assert props["ssl.truststore.location"] == str(tls / "ca.pem")
    assert not [key for key in props if "client.auth" in key]


def test_mtls_listener_requires_client_certificates(tmp_path: Path) -> None:
    props = _properties(_secure_config(tmp_path, mtls_port=29094))

    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092,MTLS://127.0.0.1:29094"
    assert props["listener.security.protocol.map"].endswith(",MTLS:SSL")
    assert props["listener.name.mtls.ssl.client.auth"] == "required"
    assert props["ssl.truststore.location"] == str(tmp_path.resolve() / "tls" / "ca.pem")
    assert not [key for key in props if key.startswith("sasl.") or ".sasl." in key]


def test_all_listeners_together(tmp_path: Path) -> None:
    config = _secure_config(tmp_path, sasl_ssl_port=29093, mtls_port=29094)
    props = _properties(config)
    assert props["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:29092,SASL_SSL://127.0.0.1:29093,MTLS://127.0.0.1:29094"
    )
    assert "listener.name.mtls.ssl.client.auth" in props
    assert "sasl.enabled.mechanisms" in props
    assert [listener.address for listener in config.listeners] == [
        "127.0.0.1:29092",
        "127.0.0.1:29093",
        "127.0.0.1:29094",
    ]


@pytest.mark.parametrize(("sasl_ssl_port", "mtls_port"), [(29092, None), (None, 29999), (1, 1)])
def test_listener_ports_must_differ(
    tmp_path: Path, sasl_ssl_port: int | None, mtls_port: int | None
) -> None:
    with pytest.raises(LocalKafkaError, match="invalid ports"):
        _secure_config(tmp_path, sasl_ssl_port, mtls_port)


@pytest.mark.parametrize("name", ["", "a,b", "x]", "name=1", "-dash", "a" * 65])
def test_scram_user_name_must_fit_storage_tool_syntax(tmp_path: Path, name: str) -> None:
    with pytest.raises(LocalKafkaError, match="invalid SCRAM user name"):
        BrokerConfig(tmp_path, scram_user=name)


def test_scram_user_is_private_and_only_its_salted_password_reaches_the_tool(
    tmp_path: Path,
) -> None:
    user = create_scram_user(tmp_path, "streamproc")
    stored = tmp_path / "scram-user.json"

    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert read_scram_user(tmp_path) == user
    assert user.password not in repr(user)
    assert len(user.password) >= 32
    assert create_scram_user(tmp_path, "streamproc").password != user.password

    arguments = storage_format_arguments(user)
    assert arguments[0::2] == ["--add-scram", "--add-scram"]
    assert user.password not in " ".join(arguments)
    for argument, (mechanism, digest) in zip(
        arguments[1::2], [("SCRAM-SHA-512", "sha512"), ("SCRAM-SHA-256", "sha256")], strict=True
    ):
        match = re.fullmatch(
            rf'{mechanism}=\[name=streamproc,iterations=4096,salt="(.+)",saltedpassword="(.+)"\]',
            argument,
        )
        assert match, argument
        salt, salted = (base64.b64decode(group) for group in match.groups())
        assert salted == hashlib.pbkdf2_hmac(digest, user.password.encode(), salt, 4096)


def test_tls_files_chain_to_their_cas_and_are_kept(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path)

    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    untrusted = x509.load_pem_x509_certificate(files.untrusted_ca.read_bytes())
    broker_pem = files.broker_keystore.read_bytes()
    assert broker_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, as Kafka wants
    broker_cert = x509.load_pem_x509_certificate(broker_pem[broker_pem.index(b"-----BEGIN C") :])
    names = broker_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    broker_cert.verify_directly_issued_by(ca)
    client = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
    client.verify_directly_issued_by(ca)
    outsider = x509.load_pem_x509_certificate(files.untrusted_client_cert.read_bytes())
    outsider.verify_directly_issued_by(untrusted)
    with pytest.raises(ValueError):
        outsider.verify_directly_issued_by(ca)
    for private in (files.broker_keystore, files.client_key, files.untrusted_client_key):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    # What aiokafka clients will load: the key matches the certificate.
    ssl.create_default_context(cafile=files.ca).load_cert_chain(files.client_cert, files.client_key)

    before = files.ca.read_bytes()
    assert ensure_tls_files(tmp_path) == files
    assert files.ca.read_bytes() == before  # clients' copies stay valid across restarts


def test_access_and_status_name_every_listener_but_never_the_password(tmp_path: Path) -> None:
    config = _secure_config(tmp_path / "data", sasl_ssl_port=29093, mtls_port=29094)
    config.data_dir.mkdir()
    config.properties_file.write_text(render_server_properties(config))
    user = create_scram_user(config.data_dir, "streamproc")

    access = broker_access(config.data_dir)
    assert (access.plaintext, access.sasl_ssl, access.mtls) == (
        "127.0.0.1:29092",
        "127.0.0.1:29093",
        "127.0.0.1:29094",
    )
    assert access.scram == user
    assert access.tls is not None
    assert access.tls.ca == config.data_dir / "tls" / "ca.pem"
    assert access.scram_mechanisms == ("SCRAM-SHA-512", "SCRAM-SHA-256")
    assert broker_status(config).listeners == {
        "PLAINTEXT": "127.0.0.1:29092",
        "SASL_SSL": "127.0.0.1:29093",
        "MTLS": "127.0.0.1:29094",
    }

    result = CliRunner().invoke(broker, ["status", "--data-dir", str(config.data_dir)])
    assert result.exit_code == 3
    lines = result.output.splitlines()
    assert lines[2:6] == [
        "bootstrap servers: 127.0.0.1:29092",
        "sasl_ssl (SCRAM-SHA-512, SCRAM-SHA-256): 127.0.0.1:29093, user streamproc, "
        f"password in {config.data_dir / 'scram-user.json'}",
        f"mtls: 127.0.0.1:29094, client certificate {access.tls.client_cert}, "
        f"key {access.tls.client_key}",
        f"ca certificate: {access.tls.ca}",
    ]
    assert user.password not in result.output


def test_access_before_any_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match="no broker was started from"):
        broker_access(tmp_path)


def test_plaintext_only_access_has_no_tls_files(tmp_path: Path) -> None:
    config = BrokerConfig(tmp_path, port=29092)
    config.properties_file.write_text(render_server_properties(config))
    access = broker_access(tmp_path)
    assert (access.plaintext, access.sasl_ssl, access.mtls, access.tls) == (
        "127.0.0.1:29092",
        None,
        None,
        None,
    )


def test_secure_port_in_use_names_its_option(fake_bin: Path, config: BrokerConfig) -> None:
    secure = BrokerConfig(
        config.data_dir, config.port, config.quorum_port, config.cache_dir, mtls_port=_free_port()
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", secure.mtls_port or 0))
        sock.listen()
        with pytest.raises(LocalKafkaError, match=r"choose another port with --mtls-port$"):
            start_broker(secure)


def _complete_fake_cache(cache: Path) -> None:
    cache.mkdir(parents=True)
    for jar in REQUIRED_JARS:
        (cache / jar).touch()
    (cache / ".complete").write_text(render_pom())


def test_sasl_on_storage_formatted_without_a_scram_user_is_refused(
    fake_bin: Path, config: BrokerConfig
) -> None:
    _complete_fake_cache(config.cache_dir)
    (config.data_dir / "logs").mkdir(parents=True)
    (config.data_dir / "logs" / "meta.properties").write_text("node.id=1\n")
    secure = BrokerConfig(
        config.data_dir,
        config.port,
        config.quorum_port,
        config.cache_dir,
        sasl_ssl_port=_free_port(),
    )
    with pytest.raises(LocalKafkaError, match="formatted without a SCRAM user"):
        start_broker(secure)

    create_scram_user(config.data_dir, "someone")
    with pytest.raises(LocalKafkaError, match="formatted with the SCRAM user 'someone'"):
        start_broker(secure)
