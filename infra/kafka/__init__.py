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
from infra.kafka._publisher import CLOUDEVENTS_CONTENT_TYPE, EventPublisher, record_headers

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "BatchHandler",
    "DeadLetters",
    "Delivery",
    "EventConsumer",
    "EventPublisher",
    "RetryPolicy",
    "TopicInfo",
    "admin_client",
    "describe_topics",
    "ensure_topics",
    "make_broker",
    "offsets_consumer",
    "partitions_of",
    "record_headers",
    "subscribe",
]
