"""Plain aiokafka clients against the local broker's SASL_SSL (SCRAM) and mTLS listeners.

Every refusal surfaces from aiokafka 0.14 as the same `KafkaConnectionError("Unable to
bootstrap from ...")` with no chained cause; the reason is only in the error aiokafka logs
("Unable connect to ...: <error>"), so the tests check that logged error too: a refusal for
the wrong reason (a wrong port, say) would otherwise pass.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context

from streamproc.localkafka import BrokerAccess, TlsFiles
from tests.integration.conftest import broker_cli
from tests.integration.test_broker_cli import consume_one, produce_one

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Each refusal took well under a second on a loaded 2-core machine; a hang would show here.
REFUSAL_BOUND_S = 10.0


def _tls(access: BrokerAccess) -> TlsFiles:
    assert access.tls is not None, "the secure broker has TLS listeners"
    return access.tls


def sasl_ssl_client(access: BrokerAccess, mechanism: str = "SCRAM-SHA-512") -> dict[str, Any]:
    assert access.scram is not None
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": access.scram.username,
        "sasl_plain_password": access.scram.password,
        "ssl_context": create_ssl_context(cafile=str(_tls(access).ca)),
    }


def mtls_client(access: BrokerAccess) -> dict[str, Any]:
    tls = _tls(access)
    context = create_ssl_context(
        cafile=str(tls.ca), certfile=str(tls.client_cert), keyfile=str(tls.client_key)
    )
    return {"security_protocol": "SSL", "ssl_context": context}


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
async def test_sasl_ssl_roundtrip(secure_kafka: BrokerAccess, mechanism: str) -> None:
    assert secure_kafka.sasl_ssl is not None
    client = sasl_ssl_client(secure_kafka, mechanism)
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    await produce_one(secure_kafka.sasl_ssl, topic, b"over scram", **client)
    assert await consume_one(secure_kafka.sasl_ssl, topic, **client) == b"over scram"


async def test_mtls_roundtrip_and_plaintext_sees_the_same_data(secure_kafka: BrokerAccess) -> None:
    assert secure_kafka.mtls is not None
    topic = f"mtls-{uuid.uuid4().hex[:8]}"
    await produce_one(secure_kafka.mtls, topic, b"over mtls", **mtls_client(secure_kafka))
    assert await consume_one(secure_kafka.mtls, topic, **mtls_client(secure_kafka)) == b"over mtls"
    assert await consume_one(secure_kafka.plaintext, topic) == b"over mtls"


def _wrong_password(access: BrokerAccess) -> tuple[str | None, dict[str, Any]]:
    return access.sasl_ssl, {**sasl_ssl_client(access), "sasl_plain_password": "wrong"}


def _no_client_certificate(access: BrokerAccess) -> tuple[str | None, dict[str, Any]]:
    context = create_ssl_context(cafile=str(_tls(access).ca))
    return access.mtls, {"security_protocol": "SSL", "ssl_context": context}


def _untrusted_client_certificate(access: BrokerAccess) -> tuple[str | None, dict[str, Any]]:
    tls = _tls(access)
    context = create_ssl_context(
        cafile=str(tls.ca),
        certfile=str(tls.untrusted_client_cert),
        keyfile=str(tls.untrusted_client_key),
    )
    return access.mtls, {"security_protocol": "SSL", "ssl_context": context}


def _client_trusting_another_ca(access: BrokerAccess) -> tuple[str | None, dict[str, Any]]:
    context = create_ssl_context(cafile=str(_tls(access).untrusted_ca))
    return access.sasl_ssl, {**sasl_ssl_client(access), "ssl_context": context}


def _tls_client_on_plaintext(access: BrokerAccess) -> tuple[str | None, dict[str, Any]]:
    return access.plaintext, mtls_client(access)


def _plaintext_client_on_sasl_ssl(access: BrokerAccess) -> tuple[str | None, dict[str, Any]]:
    return access.sasl_ssl, {}


def _plaintext_client_on_mtls(access: BrokerAccess) -> tuple[str | None, dict[str, Any]]:
    return access.mtls, {}


_Client = Callable[[BrokerAccess], tuple[str | None, dict[str, Any]]]
# What aiokafka logs as the reason: the error type and a part of its message. The broker
# closes the connection without a word when a client certificate is missing or untrusted
# (TLS 1.3 reports client authentication after the client's handshake has finished) and when
# a client speaks plain Kafka to a TLS port.
REFUSALS: dict[str, tuple[_Client, type[BaseException], str]] = {
    "wrong password": (_wrong_password, SaslAuthenticationFailed, "invalid credentials"),
    "no client certificate": (_no_client_certificate, KafkaConnectionError, "closed"),
    "untrusted client certificate": (
        _untrusted_client_certificate,
        KafkaConnectionError,
        "closed",
    ),
    "client trusts another CA": (
        _client_trusting_another_ca,
        ssl.SSLCertVerificationError,
        "certificate verify failed",
    ),
    "TLS client on PLAINTEXT": (_tls_client_on_plaintext, ConnectionResetError, ""),
    "PLAINTEXT client on SASL_SSL": (_plaintext_client_on_sasl_ssl, KafkaConnectionError, "closed"),
    "PLAINTEXT client on mTLS": (_plaintext_client_on_mtls, KafkaConnectionError, "closed"),
}


@pytest.mark.parametrize("case", REFUSALS)
async def test_refused_clients(
    secure_kafka: BrokerAccess, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    client, reason_type, reason_text = REFUSALS[case]
    bootstrap, security = client(secure_kafka)
    assert bootstrap is not None
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **security)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        try:
            await producer.start()
        finally:
            await producer.stop()
    elapsed = time.monotonic() - started
    # aiokafka closes a refused bootstrap connection without waiting for its transport; a TLS
    # transport needs a few more loop turns to close its socket. Without them the socket was
    # now and then still open when the test's loop closed, and gc reported it later.
    await asyncio.sleep(0.1)

    assert elapsed < REFUSAL_BOUND_S
    reasons = [r.args[-1] for r in caplog.records if r.getMessage().startswith("Unable connect")]
    assert reasons, caplog.text
    assert all(isinstance(reason, reason_type) for reason in reasons), reasons
    assert all(reason_text in str(reason) for reason in reasons), reasons


def test_status_names_every_listener_and_hides_the_password(secure_kafka: BrokerAccess) -> None:
    status = broker_cli("status", "--data-dir", str(secure_kafka.data_dir))
    assert status.returncode == 0, status.stdout + status.stderr
    tls, scram = _tls(secure_kafka), secure_kafka.scram
    assert scram is not None
    assert status.stdout.splitlines()[2:6] == [
        f"bootstrap servers: {secure_kafka.plaintext}",
        f"sasl_ssl (SCRAM-SHA-512, SCRAM-SHA-256): {secure_kafka.sasl_ssl}, user streamproc, "
        f"password in {secure_kafka.data_dir / 'scram-user.json'}",
        f"mtls: {secure_kafka.mtls}, client certificate {tls.client_cert}, key {tls.client_key}",
        f"ca certificate: {tls.ca}",
    ]
    assert scram.password not in status.stdout + status.stderr
