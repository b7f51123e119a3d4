"""Prometheus metrics of the gateway (served at ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "ixo_gateway_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "ixo_gateway_request_seconds", "HTTP request latency", ["method", "route"], registry=REGISTRY
)
PUBLISHED = Counter(
    "ixo_gateway_events_published_total", "Events written to Kafka", ["topic"], registry=REGISTRY
)
REJECTED = Counter(
    "ixo_gateway_events_rejected_total", "Events refused as invalid", ["kind"], registry=REGISTRY
)
