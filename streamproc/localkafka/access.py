"""How a client reaches a started local broker: an address per listener, the SCRAM user and
the certificate files. What tests and demos read instead of parsing the data dir themselves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamproc.localkafka.broker import MTLS, PLAINTEXT, SASL_SSL, advertised_addresses
from streamproc.localkafka.fetch import LocalKafkaError
from streamproc.localkafka.scram import SCRAM_MECHANISMS, ScramUser, read_scram_user
from streamproc.localkafka.tls import TlsFiles, tls_files


@dataclass(frozen=True)
class BrokerAccess:
    """Addresses are `host:port` bootstrap strings; None when that listener is not enabled."""

    data_dir: Path
    plaintext: str
    sasl_ssl: str | None  # SCRAM over TLS: trust `tls.ca`, log in as `scram`
    mtls: str | None  # TLS with a client certificate: `tls.client_cert`, `tls.client_key`
    scram: ScramUser | None  # None only for storage formatted before users were made
    tls: TlsFiles | None  # None when no TLS listener is enabled
    scram_mechanisms: tuple[str, ...] = SCRAM_MECHANISMS


def broker_access(data_dir: Path) -> BrokerAccess:
    """Read how to reach the broker last started from `data_dir` (running or not)."""
    data_dir = Path(data_dir).expanduser().resolve()
    addresses = advertised_addresses(data_dir / "server.properties")
    if addresses is None:
        raise LocalKafkaError(
            f"no broker was started from {data_dir}: run `streamproc broker start` first"
        )
    uses_tls = SASL_SSL in addresses or MTLS in addresses
    return BrokerAccess(
        data_dir=data_dir,
        plaintext=addresses[PLAINTEXT],
        sasl_ssl=addresses.get(SASL_SSL),
        mtls=addresses.get(MTLS),
        scram=read_scram_user(data_dir),
        tls=tls_files(data_dir) if uses_tls else None,
    )
