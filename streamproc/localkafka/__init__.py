"""A real single-node Apache Kafka (KRaft) on 127.0.0.1, with jars resolved from Maven Central."""

from streamproc.localkafka.access import BrokerAccess, broker_access
from streamproc.localkafka.broker import (
    BrokerConfig,
    BrokerStatus,
    broker_status,
    start_broker,
    stop_broker,
)
from streamproc.localkafka.fetch import (
    DEFAULT_CACHE_DIR,
    KAFKA_VERSION,
    LocalKafkaError,
    fetch_kafka_jars,
    is_cache_complete,
)
from streamproc.localkafka.scram import DEFAULT_SCRAM_USER, SCRAM_MECHANISMS, ScramUser
from streamproc.localkafka.tls import TlsFiles

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_SCRAM_USER",
    "KAFKA_VERSION",
    "SCRAM_MECHANISMS",
    "BrokerAccess",
    "BrokerConfig",
    "BrokerStatus",
    "LocalKafkaError",
    "ScramUser",
    "TlsFiles",
    "broker_access",
    "broker_status",
    "fetch_kafka_jars",
    "is_cache_complete",
    "start_broker",
    "stop_broker",
]
