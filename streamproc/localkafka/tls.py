"""Certificates for the local broker's TLS listeners, as PEM files in `<data_dir>/tls/`.

One CA signs the broker's certificate (for 127.0.0.1 and localhost) and a client certificate
for the mTLS listener. A second CA that the broker does not trust, with a client certificate
of its own, lets tests check that untrusted certificates are refused in both directions.

Made once per data dir and kept across restarts, so files that clients already hold stay
valid. The CAs' private keys are not kept: nothing else is ever signed with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from streamproc.localkafka.fetch import write_file

BROKER_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files of one data dir."""

    directory: Path

    @property
    def ca(self) -> Path:
        """The CA certificate clients trust the broker with, and the broker trusts clients."""
        return self.directory / "ca.pem"

    @property
    def broker_keystore(self) -> Path:
        """The broker's private key and certificate chain (Kafka's PEM keystore file)."""
        return self.directory / "broker.pem"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    @property
    def untrusted_ca(self) -> Path:
        """A CA that signed nothing the broker uses and that the broker does not trust."""
        return self.directory / "untrusted-ca.pem"

    @property
    def untrusted_client_cert(self) -> Path:
        """A client certificate signed by the untrusted CA: the mTLS listener refuses it."""
        return self.directory / "untrusted-client.pem"

    @property
    def untrusted_client_key(self) -> Path:
        return self.directory / "untrusted-client.key"


def tls_files(data_dir: Path) -> TlsFiles:
    return TlsFiles(data_dir / "tls")


def ensure_tls_files(data_dir: Path) -> TlsFiles:
    """Return the data dir's certificate files, making them first if any is missing."""
    files = tls_files(data_dir)
    # ca.pem is written last, so its presence means a complete set.
    if files.ca.is_file():
        return files
    files.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = trustme.CA(organization_unit_name="streamproc local Kafka CA")
    untrusted = trustme.CA(organization_unit_name="streamproc untrusted CA")
    broker = ca.issue_cert(*BROKER_HOSTS, common_name="localhost")
    write_file(files.broker_keystore, _private_key(broker) + _chain(broker), mode=0o600)
    _write_client(ca, "streamproc-client", files.client_cert, files.client_key)
    _write_client(
        untrusted,
        "streamproc-untrusted-client",
        files.untrusted_client_cert,
        files.untrusted_client_key,
    )
    write_file(files.untrusted_ca, untrusted.cert_pem.bytes())
    write_file(files.ca, ca.cert_pem.bytes())
    return files


def _write_client(ca: trustme.CA, name: str, cert_path: Path, key_path: Path) -> None:
    # The name goes in the subject alternative names too: Java refuses a certificate whose
    # SAN extension is empty, which is what trustme makes from a common name alone.
    client = ca.issue_cert(name, common_name=name)
    write_file(key_path, _private_key(client), mode=0o600)
    write_file(cert_path, _chain(client))


def _chain(leaf: trustme.LeafCert) -> bytes:
    return b"".join(blob.bytes() for blob in leaf.cert_chain_pems)


def _private_key(leaf: trustme.LeafCert) -> bytes:
    # trustme writes "BEGIN EC PRIVATE KEY"; Kafka's PEM keystore reads only PKCS#8.
    key = load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
