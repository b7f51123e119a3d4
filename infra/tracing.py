"""OpenTelemetry tracing of Kafka publishing and consuming, off by default (``IXO_OTEL_ENABLED``).

FastStream's ``KafkaTelemetryMiddleware`` makes a span per publish and per consumed batch and
carries the W3C trace context in the record headers (``traceparent``), so a trace follows an
event from the gateway through the orchestrator, the rule engine and the notifier. Spans go to
an OTLP/HTTP collector at ``IXO_OTEL_ENDPOINT`` in batches (decision 0169). The SDK and exporter
are pinned dependencies and imported only when tracing is on.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from infra.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

SERVICE = "impressox"
_lock = threading.Lock()
_providers: dict[tuple[str, str], TracerProvider] = {}


def tracer_provider(settings: Settings, service: str = SERVICE) -> TracerProvider:
    """The process's tracer provider for ``service`` (one per endpoint and service name)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    key = (settings.otel_endpoint, service)
    with _lock:
        provider = _providers.get(key)
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            if settings.otel_endpoint:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint)
                provider.add_span_processor(BatchSpanProcessor(exporter))
            _providers[key] = provider
    return provider


def telemetry_middlewares(settings: Settings, service: str = SERVICE) -> tuple[Any, ...]:
    """The broker middlewares tracing needs: none unless ``IXO_OTEL_ENABLED``."""
    if not settings.otel_enabled:
        return ()
    from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

    return (KafkaTelemetryMiddleware(tracer_provider=tracer_provider(settings, service)),)
