"""Settings: built once from `STREAMPROC_*` environment variables and passed where needed."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
PREFIX = "STREAMPROC_"
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    """Everything a worker or a command needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True)

    broker: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port"
    )
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="how every Kafka client connects (names as in aiokafka)"
    )
    sasl_mechanism: SaslMechanism = Field(
        "PLAIN", description="SASL mechanism, with SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_username: str | None = Field(None, description="SASL user name")
    sasl_password: SecretStr | None = Field(
        None, description="SASL password: never printed, logged or shown"
    )
    ssl_cafile: Path | None = Field(
        None,
        description="CA bundle (PEM) that signed the brokers' certificates; default: "
        "the system's trusted CAs",
    )
    ssl_certfile: Path | None = Field(None, description="client certificate (PEM), for mutual TLS")
    ssl_keyfile: Path | None = Field(None, description="the client certificate's key (PEM)")
    ssl_check_hostname: bool = Field(
        True, description="check that a broker's certificate names the host connected to"
    )
    definition: str = Field("default", description="a shipped definition name or a file path")
    shadow_definition: str | None = Field(
        None,
        description="a candidate definition scored alongside the live one; its crossings go "
        "to mql-crossed-shadow and drive nothing",
    )
    partitions: int = Field(4, ge=1, description="partitions of every topic streamproc creates")
    replication: int = Field(1, ge=1, description="replication factor of topics it creates")
    topic_prefix: str = Field("", description="prepended to every topic name")
    app_id: str = Field("streamproc", description="Kafka consumer group and Faust app id")
    data_dir: Path = Field(Path(".streamproc"), description="local state: broker, table stores")
    store: str = Field("memory://", description="table store: memory:// or rocksdb://")
    web_host: str = Field("127.0.0.1", description="where the worker's HTTP server listens")
    web_port: int = Field(6066, ge=1, le=65535, description="port of the worker's HTTP server")
    web_advertised_host: str | None = Field(
        None,
        description="the host other workers reach this one at, to forward a request for a "
        "lead it owns (in Kubernetes the pod's IP); default: web_host",
    )
    web_token: SecretStr | None = Field(
        None,
        description="when set, the data views (/leads/, ...) need 'Authorization: Bearer "
        "<token>'; health and metrics stay open",
    )
    metrics: bool = Field(True, description="count and serve Prometheus metrics at /metrics")
    session_timeout: float = Field(
        30.0,
        ge=6,
        description="seconds before a silent worker loses its partitions; a restart after a "
        "crash waits this long for the group to let go of the dead member",
    )
    action_grace: float = Field(
        60.0,
        gt=0,
        description="seconds a sales action that is not allowed yet waits for the event that "
        "would allow it (topics are read independently) before it goes to dead-letters",
    )
    expiry_scan_interval: float = Field(
        60.0,
        gt=0,
        description="seconds between scans of the expiry index for leads to expire (the "
        "definition's `retention`): an expired lead is deleted about this late",
    )
    max_record_bytes: int = Field(
        65_536,
        ge=1024,
        description="bytes an input record's value may have; a larger one goes to "
        "dead-letters unread",
    )
    max_state_bytes: int = Field(
        65_536,
        ge=32_768,
        le=1_000_000,
        description="bytes a lead's stored state may have; past it the state sheds its "
        "oldest signal hits first (counted in streamproc_state_shed_total)",
    )
    max_future: float = Field(
        86_400.0,
        gt=0,
        description="seconds an event may be dated ahead of the worker's clock; one dated "
        "further ahead goes to dead-letters",
    )
    log_level: str = Field("info", description="worker log level")
    log_format: Literal["text", "json"] = Field(
        "text", description="log lines as plain text, or one JSON object per line"
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="the worker's event loop: uvloop (recovers its tables about 15-20% faster "
        "than asyncio's own loop), or asyncio where uvloop is not installed",
    )

    @property
    def bootstrap_servers(self) -> str:
        """Broker addresses without a `kafka://` scheme, as plain Kafka clients want them."""
        return ",".join(
            server.strip().removeprefix("kafka://") for server in self.broker.split(",")
        )

    def topic(self, name: str) -> str:
        """The full name of one of DESIGN.md's topics under this deployment's prefix."""
        return f"{self.topic_prefix}{name}"


class SettingsError(Exception):
    """A `STREAMPROC_*` variable that does not make a setting; the message is one line that
    names the variable and says what is wrong."""


def variable_of(field: str) -> str:
    """The environment variable of a setting: `partitions` is `STREAMPROC_PARTITIONS`."""
    return f"{PREFIX}{field.upper()}"


_SECRETS = {
    field
    for field, info in Settings.model_fields.items()
    if SecretStr in (info.annotation, *get_args(info.annotation))
}


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and `overrides`), or a SettingsError in one line."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError("; ".join(_problem(e) for e in error.errors())) from None


def _problem(error: Any) -> str:
    location = error.get("loc") or ()
    if not location:
        return f"the {PREFIX}* settings: {error['msg']}"
    field = str(location[0])
    message = str(error["msg"])
    message = message[:1].lower() + message[1:]
    given = error.get("input")
    if field in _SECRETS or not isinstance(given, str):  # a secret's value is never shown
        return f"{variable_of(field)}: {message}"
    return f"{variable_of(field)}={given!r}: {message}"


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One sentence per `STREAMPROC_*` variable that is no setting, with the setting it was
    probably meant to be: a typo would otherwise fall back to the default unseen."""
    known = [field.upper() for field in Settings.model_fields]
    sentences = []
    for variable in sorted(os.environ if environ is None else environ):
        name = variable.upper()
        if not name.startswith(PREFIX) or name.removeprefix(PREFIX) in known:
            continue
        # Compared without the prefix, which every name shares and would make all alike.
        near = difflib.get_close_matches(name.removeprefix(PREFIX), known, n=1)
        hint = f"; did you mean {PREFIX}{near[0]}?" if near else " (see `streamproc settings`)"
        sentences.append(f"{variable} is not a setting and is ignored{hint}")
    return sentences


def settings_in_effect(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """(variable, value, source) of every setting: source `environment` or `default`. A
    secret's value shows as asterisks; a setting without a value as an empty string."""
    given = {name.upper() for name in (os.environ if environ is None else environ)}
    rows = []
    for field in Settings.model_fields:
        value = getattr(settings, field)
        if value is None:
            shown = ""
        elif isinstance(value, SecretStr):
            shown = str(value)
        elif isinstance(value, bool):
            shown = str(value).lower()
        else:
            shown = str(value)
        variable = variable_of(field)
        rows.append((variable, shown, "environment" if variable in given else "default"))
    return rows
