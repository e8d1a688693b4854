"""The local broker's SCRAM user: made when the storage is formatted, kept in the data dir.

Kafka (KRaft) stores SCRAM credentials in its metadata log; `kafka-storage format --add-scram`
writes them there before the first start. We hand StorageTool a salted password computed here
(RFC 5802 `SaltedPassword`), so the password itself never appears on a command line. The
password is kept, readable by its owner only, in `<data_dir>/scram-user.json` for the clients.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from streamproc.localkafka.fetch import LocalKafkaError, write_file

DEFAULT_SCRAM_USER = "streamproc"
# Both are registered for the user and enabled on the SASL_SSL listener; 512 first, as the
# mechanism we recommend.
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
_ITERATIONS = 4096  # Kafka's minimum and its default
# Keeps the name safe inside StorageTool's `[name=...,...]` syntax.
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class ScramUser:
    """A SCRAM user name and password; the password stays out of reprs and logs."""

    username: str
    password: str = field(repr=False)


def credentials_file(data_dir: Path) -> Path:
    return data_dir / "scram-user.json"


def check_user_name(username: str) -> None:
    if not _USER_NAME.fullmatch(username):
        raise LocalKafkaError(
            f"invalid SCRAM user name {username!r}: use 1-64 letters, digits, '.', '_' or '-'"
        )


def create_scram_user(data_dir: Path, username: str) -> ScramUser:
    """Make a user with a random password and store it (0600), replacing any older one."""
    check_user_name(username)
    user = ScramUser(username, secrets.token_urlsafe(24))
    content = json.dumps({"username": user.username, "password": user.password})
    write_file(credentials_file(data_dir), content.encode(), mode=0o600)
    return user


def read_scram_user(data_dir: Path) -> ScramUser | None:
    """The user stored in `data_dir`, or None if its storage was formatted without one."""
    try:
        stored = json.loads(credentials_file(data_dir).read_text())
    except FileNotFoundError:
        return None
    return ScramUser(str(stored["username"]), str(stored["password"]))


def storage_format_arguments(user: ScramUser) -> list[str]:
    """`kafka-storage format` arguments registering `user` for every SCRAM mechanism."""
    arguments = []
    for mechanism in SCRAM_MECHANISMS:
        digest = mechanism.removeprefix("SCRAM-").replace("-", "").lower()  # sha512, sha256
        salt = secrets.token_bytes(16)
        salted = hashlib.pbkdf2_hmac(digest, user.password.encode(), salt, _ITERATIONS)
        arguments += [
            "--add-scram",
            f"{mechanism}=[name={user.username},iterations={_ITERATIONS},"
            f'salt="{_b64(salt)}",saltedpassword="{_b64(salted)}"]',
        ]
    return arguments


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
