"""One place builds every Kafka client's options; failures read as one line for a person."""

from __future__ import annotations

import ast
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import faust
import pytest
import trustme
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from cryptography.hazmat.primitives import serialization

from streamproc.kafka_client import (
    KafkaAccessError,
    check_connection,
    client_options,
    explain,
    faust_credentials,
)
from streamproc.settings import Settings

PASSWORD = "s3cret-pw"


def settings(**values: Any) -> Settings:
    return Settings(broker="kafka://b1:9093,b2:9093", **values)


def scram() -> Settings:
    return settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="streamproc",
        sasl_password=PASSWORD,
    )


def test_plaintext_clients_get_the_bootstrap_servers_and_nothing_secure() -> None:
    options = client_options(settings())
    assert options == {
        "bootstrap_servers": "b1:9093,b2:9093",
        "security_protocol": "PLAINTEXT",
        "ssl_context": None,
    }
    assert faust_credentials(settings()) is None


def test_sasl_ssl_clients_get_the_mechanism_the_user_and_a_verifying_tls_context() -> None:
    options = client_options(scram())
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "streamproc"
    assert options["sasl_plain_password"] == PASSWORD
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_faust_gets_the_same_credentials() -> None:
    credentials = faust_credentials(scram())
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.username == "streamproc"
    assert PASSWORD not in repr(credentials)
    assert isinstance(faust_credentials(settings(security_protocol="SSL")), faust.SSLCredentials)


def test_the_hostname_check_can_be_turned_off() -> None:
    context = client_options(settings(security_protocol="SSL", ssl_check_hostname=False))
    assert context["ssl_context"].check_hostname is False


def test_the_password_never_shows_in_the_settings() -> None:
    assert PASSWORD not in repr(scram())
    assert PASSWORD not in str(scram().model_dump())


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (
            {"security_protocol": "SASL_SSL", "sasl_username": "u"},
            "SASL_SSL needs STREAMPROC_SASL_USERNAME and STREAMPROC_SASL_PASSWORD",
        ),
        (
            {"security_protocol": "SSL", "ssl_cafile": "/nowhere/ca.pem"},
            "STREAMPROC_SSL_CAFILE: no file /nowhere/ca.pem",
        ),
        (
            {"security_protocol": "SSL", "ssl_keyfile": __file__},
            "STREAMPROC_SSL_KEYFILE is set without STREAMPROC_SSL_CERTFILE",
        ),
        (
            {"security_protocol": "SSL", "ssl_cafile": __file__},
            "the TLS files cannot be used",
        ),
    ],
)
def test_settings_that_cannot_connect_are_refused_in_one_line(
    values: dict[str, Any], says: str
) -> None:
    with pytest.raises(KafkaAccessError, match=says):
        client_options(settings(**values))


def _untrusted() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] ...")
    error.verify_message = "unable to get local issuer certificate"
    return error


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()}")
    error.reason = reason
    return error


@pytest.mark.parametrize(
    ("protocol", "error", "says"),
    [
        (
            "SASL_SSL",
            SaslAuthenticationFailed(),
            "authentication failed for user streamproc with SCRAM-SHA-512 at broker b1:9093 "
            "(SASL_SSL)",
        ),
        (
            "SASL_SSL",
            _untrusted(),
            "the certificate of broker b1:9093 is not trusted (unable to get local issuer",
        ),
        ("SSL", _ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED"), "requires a client certificate"),
        ("SSL", _ssl_error("WRONG_VERSION_NUMBER"), "does not speak TLS on that port"),
        ("PLAINTEXT", ConnectionRefusedError(111, "refused"), "nothing listens at broker b1"),
        ("PLAINTEXT", TimeoutError(), "no answer at broker b1:9093 (PLAINTEXT) within 10 s"),
        (
            "PLAINTEXT",
            KafkaConnectionError("Connection at b1:9093 closed"),
            "broker b1:9093 closed the connection (PLAINTEXT): does the listener expect TLS",
        ),
        ("SSL", ConnectionResetError(104, "reset"), "does not speak TLS on that port"),
        (
            "SSL",
            KafkaConnectionError("Connection at b1:9093 closed"),
            "closed the connection (SSL): it may require a client certificate",
        ),
    ],
)
def test_a_failed_connection_is_explained_in_one_line_naming_broker_and_protocol(
    protocol: str, error: BaseException, says: str
) -> None:
    configured = scram().model_copy(update={"security_protocol": protocol})
    line = explain(configured, "b1:9093", error)
    assert says in line
    assert "\n" not in line
    assert PASSWORD not in line


KAFKA_CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}


def _takes_the_options(call: ast.Call) -> bool:
    spread = [keyword.value for keyword in call.keywords if keyword.arg is None]
    return any(
        isinstance(value, ast.Call) and getattr(value.func, "id", None) == "client_options"
        for value in spread
    )


def _clients_made_without_the_options(source: Path) -> list[str]:
    """Where `source` makes an aiokafka client that does not take `**client_options(...)`."""
    return [
        f"{source.name}:{node.lineno}"
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) in KAFKA_CLIENTS
        and not _takes_the_options(node)
    ]


def test_every_kafka_client_of_the_package_is_made_with_the_settings_options() -> None:
    package = Path(client_options.__code__.co_filename).parent
    # The local broker's readiness check talks to its own plaintext listener, by design.
    sources = [p for p in package.rglob("*.py") if "localkafka" not in p.parts]
    assert [line for p in sources for line in _clients_made_without_the_options(p)] == []


def _listener() -> socket.socket:
    """A port that accepts connections and then says nothing: a broker that never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


async def test_the_check_asks_all_bootstrap_brokers_at_once_and_names_the_most_telling() -> None:
    silent = _listener()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    try:
        silent_at = f"127.0.0.1:{silent.getsockname()[1]}"
        refused_at = f"127.0.0.1:{closed.getsockname()[1]}"
        cluster = Settings(broker=f"{silent_at},{silent_at},{refused_at}")
        started = time.monotonic()
        with pytest.raises(KafkaAccessError, match=f"nothing listens at broker {refused_at}"):
            await check_connection(cluster, timeout=1.0)
        assert time.monotonic() - started < 2.0  # one deadline, not one per broker
    finally:
        silent.close()
        closed.close()


def test_an_encrypted_client_key_is_refused_in_one_line_not_prompted_for(tmp_path: Path) -> None:
    authority = trustme.CA()
    issued = authority.issue_cert("client")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    private = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(KafkaAccessError, match="STREAMPROC_SSL_KEYFILE is encrypted"):
        client_options(settings(security_protocol="SSL", ssl_certfile=cert, ssl_keyfile=key))
