"""Prometheus metrics of every consumer (:func:`infra.kafka.subscribe`), in the process's default
registry: each component serves them on its ``/metrics`` (``infra.metrics``).

Labels are the (prefixed) consumer group and topic, so replicas and tests never mix their series;
a partition label only on the lag gauges (a few partitions per topic).
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

RECORDS: Final = Counter(
    "ixo_consumer_records",
    "Records a consumer's handler processed (their batch succeeded)",
    ["group", "topic"],
)
FAILED: Final = Counter(
    "ixo_consumer_failed_records",
    "Records in handler attempts that raised (kind: transient, permanent, error); a retried "
    "record counts once per failed attempt",
    ["group", "topic", "kind"],
)
DEAD_LETTERED: Final = Counter(
    "ixo_consumer_dead_lettered",
    "Records sent to the dead-letter topic, by x-error-type",
    ["group", "topic", "error_type"],
)
SKIPPED: Final = Counter(
    "ixo_consumer_skipped",
    "Requeued records meant for another consumer group, seen and left alone",
    ["group", "topic"],
)
HANDLER_SECONDS: Final = Histogram(
    "ixo_consumer_handler_seconds",
    "Time one handler call took for a batch (each attempt)",
    ["group", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BATCH_RECORDS: Final = Histogram(
    "ixo_consumer_batch_records",
    "Records per batch the consumer received",
    ["group", "topic"],
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
LAG: Final = Gauge(
    "ixo_consumer_lag",
    "Records behind the partition's end after the last batch (high watermark - next offset)",
    ["group", "topic", "partition"],
)
LAG_SECONDS: Final = Gauge(
    "ixo_consumer_lag_seconds",
    "How far behind in time the consumer is after its last batch: now minus the Kafka timestamp "
    "of the last record it processed when records remain, else 0",
    ["group", "topic", "partition"],
)
