"""The worker and the backtest on a secured cluster: end to end over SASL_SSL (SCRAM) and mutual
TLS, and every misconfiguration a user makes ends them quickly, in one line, without secrets."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from streamproc.localkafka import BrokerAccess
from streamproc.settings import Settings
from streamproc.worker_process import WorkerProcess
from tests.builders import at, good_fit, visit
from tests.integration.conftest import SECRETS, STREAMPROC, start_worker, worker_settings
from tests.integration.kafka_io import OutputCollector, new_lead, send_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REFUSED_WITHIN_S = 30.0
"""The issue's bound: a refused connection ends the worker within this."""
WRONG_PASSWORD = "not-the-password"
SECRETS.append(WRONG_PASSWORD.encode())


def _tls(access: BrokerAccess) -> Any:
    assert access.tls is not None, "the secured broker has no TLS files"
    return access.tls


def sasl_ssl(access: BrokerAccess, **changes: Any) -> dict[str, Any]:
    assert access.sasl_ssl is not None and access.scram is not None
    return {
        "broker": access.sasl_ssl,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": access.scram.username,
        "sasl_password": access.scram.password,
        "ssl_cafile": _tls(access).ca,
        **changes,
    }


def mtls(access: BrokerAccess, **changes: Any) -> dict[str, Any]:
    assert access.mtls is not None
    tls = _tls(access)
    return {
        "broker": access.mtls,
        "security_protocol": "SSL",
        "ssl_cafile": tls.ca,
        "ssl_certfile": tls.client_cert,
        "ssl_keyfile": tls.client_key,
        **changes,
    }


def secured(access: BrokerAccess, tmp_path: Path, security: dict[str, Any]) -> Settings:
    base = worker_settings(access.plaintext, tmp_path, "acme")
    return Settings(**{**base.model_dump(), **security})  # validated: the password a secret


@pytest.mark.parametrize("listener", ["sasl_ssl", "mtls"])
async def test_the_pipeline_runs_end_to_end_over_a_secured_listener(
    secure_kafka: BrokerAccess, tmp_path: Path, listener: str
) -> None:
    security = sasl_ssl(secure_kafka) if listener == "sasl_ssl" else mtls(secure_kafka)
    settings = secured(secure_kafka, tmp_path, security)
    worker = start_worker(settings, tmp_path / "worker.log")
    collector = OutputCollector(settings)
    try:
        await collector.start()
        lead = new_lead()
        await send_events(settings, good_fit(lead, at()), visit(lead, at(1)), visit(lead, at(3)))
        await collector.wait_for(lambda: len(collector.of(lead, "mql-crossed")) == 1)
        [crossed] = collector.of(lead, "mql-crossed")
        assert crossed["score"]["total"] == 70.0
    finally:
        await collector.stop()
        worker.stop()
    assert "Ready" in worker.log.read_text()  # its log is scanned for the password too


def _refusals(access: BrokerAccess) -> dict[str, tuple[dict[str, Any], str]]:
    """Each misconfiguration: the settings, and what its one line must say."""
    tls = _tls(access)
    return {
        "wrong password": (
            sasl_ssl(access, sasl_password=WRONG_PASSWORD),
            f"authentication failed for user streamproc with SCRAM-SHA-512 at broker "
            f"{access.sasl_ssl} (SASL_SSL)",
        ),
        "untrusted certificate": (
            sasl_ssl(access, ssl_cafile=tls.untrusted_ca),
            f"the certificate of broker {access.sasl_ssl} is not trusted",
        ),
        "no client certificate": (
            mtls(access, ssl_certfile=None, ssl_keyfile=None),
            f"broker {access.mtls} closed the connection (SSL): it may require a client "
            "certificate",
        ),
        "a client certificate the broker does not trust": (
            mtls(
                access,
                ssl_certfile=tls.untrusted_client_cert,
                ssl_keyfile=tls.untrusted_client_key,
            ),
            f"broker {access.mtls} closed the connection (SSL): it may not trust the client "
            "certificate",
        ),
        "TLS on a plaintext listener": (
            {"broker": access.plaintext, "security_protocol": "SSL", "ssl_cafile": tls.ca},
            f"broker {access.plaintext} does not speak TLS",
        ),
        "plaintext on a TLS listener": (
            {"broker": access.sasl_ssl, "security_protocol": "PLAINTEXT"},
            f"broker {access.sasl_ssl} closed the connection (PLAINTEXT): does the listener "
            "expect TLS or SASL?",
        ),
    }


REFUSALS = [
    "wrong password",
    "untrusted certificate",
    "no client certificate",
    "a client certificate the broker does not trust",
    "TLS on a plaintext listener",
    "plaintext on a TLS listener",
]


def _run(command: list[str], settings: Settings, log: Path) -> tuple[int, str, float]:
    """Run a streamproc command with `settings` in its environment: (exit status, stderr, s)."""
    environment = WorkerProcess(settings, log).environment()
    started = time.monotonic()
    done = subprocess.run(
        command,
        env=environment,
        capture_output=True,
        text=True,
        timeout=REFUSED_WITHIN_S * 2,
        check=False,
    )
    return done.returncode, done.stderr + done.stdout, time.monotonic() - started


def _assert_refused_in_one_line(code: int, output: str, seconds: float, says: str) -> None:
    lines = output.strip().splitlines()
    assert code == 1, output
    assert seconds < REFUSED_WITHIN_S
    assert len(lines) == 1, output
    assert says in lines[0]
    assert "Traceback" not in output
    assert not any(secret in output.encode() for secret in SECRETS)


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_connection_ends_the_worker_at_once_in_one_line(
    secure_kafka: BrokerAccess, tmp_path: Path, case: str
) -> None:
    security, says = _refusals(secure_kafka)[case]
    settings = secured(secure_kafka, tmp_path, security)
    code, output, seconds = _run([str(STREAMPROC), "worker"], settings, tmp_path / "worker.log")
    _assert_refused_in_one_line(code, output, seconds, says)


@pytest.mark.parametrize("case", ["wrong password", "untrusted certificate"])
def test_a_refused_connection_ends_the_backtest_in_one_line(
    secure_kafka: BrokerAccess, tmp_path: Path, case: str
) -> None:
    security, says = _refusals(secure_kafka)[case]
    settings = secured(secure_kafka, tmp_path, security)
    command = [str(STREAMPROC), "backtest", "--definition", "acme", "--events"]
    command.append(f"kafka://{settings.broker}")
    code, output, seconds = _run(command, settings, tmp_path / "backtest.log")
    _assert_refused_in_one_line(code, output, seconds, says)
