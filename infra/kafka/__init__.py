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
from infra.kafka._dlq import (
    REQUEUE_GROUP,
    RequeueResult,
    connected_broker,
    dlq_overview,
    group_consumer,
    read_all,
    record_summary,
    requeue,
    requeue_headers,
    requeued_before,
    skip_reason,
    source_of,
)
from infra.kafka._errors import publish_error
from infra.kafka._history import KafkaTickHistory, partition_for, read_ticks, tick_history
from infra.kafka._lag import (
    GROUP_NAMESPACE,
    LagRow,
    UnknownGroup,
    consumer_lag,
    group_candidates,
    resolve_group,
)
from infra.kafka._logs import KafkaLog
from infra.kafka._publisher import (
    CLOUDEVENTS_CONTENT_TYPE,
    EventPublisher,
    OutRecord,
    record_headers,
)
from infra.kafka._records import (
    RawRecord,
    Start,
    read_records,
    start_offsets,
    topic_partitions,
)
from infra.kafka._security import broker_security, client_options, client_security
from infra.kafka._streams import (
    StreamRecord,
    default_since,
    parse_last_event_id,
    stream_records,
)

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "GROUP_NAMESPACE",
    "REQUEUE_GROUP",
    "BatchHandler",
    "DeadLetters",
    "Delivery",
    "EventConsumer",
    "EventPublisher",
    "KafkaLog",
    "KafkaTickHistory",
    "LagRow",
    "OutRecord",
    "RawRecord",
    "RequeueResult",
    "RetryPolicy",
    "Start",
    "StreamRecord",
    "TopicInfo",
    "UnknownGroup",
    "admin_client",
    "broker_security",
    "client_options",
    "client_security",
    "connected_broker",
    "consumer_lag",
    "default_since",
    "describe_topics",
    "dlq_overview",
    "ensure_topics",
    "group_candidates",
    "group_consumer",
    "make_broker",
    "offsets_consumer",
    "parse_last_event_id",
    "partition_for",
    "partitions_of",
    "publish_error",
    "read_all",
    "read_records",
    "read_ticks",
    "record_headers",
    "record_summary",
    "requeue",
    "requeue_headers",
    "requeued_before",
    "resolve_group",
    "skip_reason",
    "source_of",
    "start_offsets",
    "stream_records",
    "subscribe",
    "tick_history",
    "topic_partitions",
]
