"""A real single-node Apache Kafka (KRaft) on 127.0.0.1, with jars resolved from Maven Central."""

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

__all__ = [
    "DEFAULT_CACHE_DIR",
    "KAFKA_VERSION",
    "BrokerConfig",
    "BrokerStatus",
    "LocalKafkaError",
    "broker_status",
    "fetch_kafka_jars",
    "is_cache_complete",
    "start_broker",
    "stop_broker",
]
