"""Settings: built once from `STREAMPROC_*` environment variables and passed where needed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    """Everything a worker or a command needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix="STREAMPROC_", frozen=True)

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
