"""Kafka wiring: the broker factory, typed publishing, the consumer/DLQ mechanism, topic admin."""

from infra.kafka._admin import (
    TopicInfo,
    admin_client,
    describe_topics,
    ensure_topics,
    offsets_consumer,
    partitions_of,
)
from infra.kafka._broker import make_broker
from infra.kafka._consumer import (
    BatchHandler,
    DeadLetters,
    Delivery,
    EventConsumer,
    RetryPolicy,
    subscribe,
)
from infra.kafka._errors import publish_error
from infra.kafka._history import KafkaTickHistory, partition_for, read_ticks, tick_history
from infra.kafka._publisher import CLOUDEVENTS_CONTENT_TYPE, EventPublisher, record_headers
from infra.kafka._security import broker_security, client_options, client_security
from infra.kafka._streams import (
    StreamRecord,
    default_since,
    parse_last_event_id,
    stream_records,
)

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "BatchHandler",
    "DeadLetters",
    "Delivery",
    "EventConsumer",
    "EventPublisher",
    "KafkaTickHistory",
    "RetryPolicy",
    "StreamRecord",
    "TopicInfo",
    "admin_client",
    "broker_security",
    "client_options",
    "client_security",
    "default_since",
    "describe_topics",
    "ensure_topics",
    "make_broker",
    "offsets_consumer",
    "parse_last_event_id",
    "partition_for",
    "partitions_of",
    "publish_error",
    "read_ticks",
    "record_headers",
    "stream_records",
    "subscribe",
    "tick_history",
]
