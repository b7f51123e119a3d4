"""Prometheus metrics of the gateway (served at ``GET /metrics``) and the ASGI middleware that
records them (a plain ASGI middleware: Starlette's BaseHTTPMiddleware costs a task per request)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
LIMITED = Counter(
    "ixo_gateway_limited_total",
    "Requests refused by a limit (body_size: 413, rate: 429)",
    ["limit"],
    registry=REGISTRY,
)


class MetricsMiddleware:
    """Counts requests by method, route template and status, and observes their latency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
            REQUESTS.labels(method, route, str(status)).inc()
