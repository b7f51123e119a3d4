"""The one factory for FastStream's KafkaBroker."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker

from infra.kafka._security import broker_security
from infra.settings import Settings
from infra.tracing import telemetry_middlewares

MAX_BATCH_BYTES = 1024 * 1024


def make_broker(settings: Settings, *, client_id: str = "impressox") -> KafkaBroker:
    """A broker with an idempotent, acks=all producer that never creates topics by accident,
    secured as ``settings.kafka`` says (SASL, TLS).

    FastStream's per-message INFO logs cost most of a consumer's time (shared/notes), so they go
    to DEBUG; our consumer wiring logs what matters (dead letters, retries) itself. With
    ``IXO_OTEL_ENABLED`` every publish and consume is traced (``infra.tracing``).
    """
    return KafkaBroker(
        settings.kafka_servers,
        client_id=client_id,
        security=broker_security(settings.kafka),
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=MAX_BATCH_BYTES,
        allow_auto_create_topics=False,
        graceful_timeout=15.0,
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,
        middlewares=telemetry_middlewares(settings, f"impressox.{client_id}"),
    )
