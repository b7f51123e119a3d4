"""Each component's ``/metrics``: a small Prometheus HTTP server in a daemon thread (the gateway
serves its own on its app).

Where it listens (decision 0167): ``IXO_METRICS_HOST`` (loopback by default) and
``IXO_METRICS_PORT`` when set (a busy port is an error: the operator asked for it); otherwise
``IXO_METRICS_PORT_BASE`` + the component's fixed offset, and for the replicas of one component
(``ixo run NAME --replicas N``) the first free of base + offset + 100*i. ``IXO_METRICS_PORT_BASE=0``
turns the endpoint off. What is served is the process's default registry: the consumers'
``ixo_consumer_*`` series (``infra.kafka``) and the Python process's own.
"""

from __future__ import annotations

import errno
import logging
import zlib
from dataclasses import dataclass
from typing import Final

from prometheus_client import REGISTRY, start_http_server

from infra.settings import Settings
from schemas import IxoError

log = logging.getLogger(__name__)

PORT_OFFSETS: Final[dict[str, int]] = {
    "projector": 1,
    "rule-engine": 2,
    "orchestrator": 3,
    "notifier": 4,
    "scheduler": 5,
    "embedder": 6,
    "chain-listener": 7,
    "market-feed": 8,
    "x-source": 9,
    "telegram-bot": 10,
    "discord-bot": 11,
}
"""Fixed, so a Prometheus configuration survives new components (which take 50-99)."""
REPLICA_STRIDE: Final = 100
MAX_REPLICAS: Final = 16


class MetricsPortBusy(IxoError):  # noqa: N818
    """IXO_METRICS_PORT is taken by another process."""


@dataclass(frozen=True)
class MetricsEndpoint:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"


def port_offset(component: str) -> int:
    """The component's offset from the base port (a stable 50-99 for one not in the table)."""
    found = PORT_OFFSETS.get(component)
    if found is not None:
        return found
    return 50 + zlib.crc32(component.encode()) % 50


def candidate_ports(settings: Settings, component: str) -> list[int]:
    """The ports this process may take, in order; empty when the endpoint is off."""
    if settings.metrics_port is not None:
        return [settings.metrics_port]
    if settings.metrics_port_base == 0:
        return []
    first = settings.metrics_port_base + port_offset(component)
    return [
        first + REPLICA_STRIDE * i
        for i in range(MAX_REPLICAS)
        if first + REPLICA_STRIDE * i < 65536
    ]


def serve_metrics(settings: Settings, component: str) -> MetricsEndpoint | None:
    """Start this process's ``/metrics`` server; None when it is off or no candidate port is
    free (logged: the component runs on, without an endpoint)."""
    ports = candidate_ports(settings, component)
    for port in ports:
        try:
            start_http_server(port, addr=settings.metrics_host, registry=REGISTRY)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            if settings.metrics_port is not None:
                msg = f"IXO_METRICS_PORT {port} is in use on {settings.metrics_host}"
                raise MetricsPortBusy(msg) from None
            continue
        endpoint = MetricsEndpoint(settings.metrics_host, port)
        log.info("metrics at %s", endpoint.url, extra={"component": component})
        return endpoint
    if ports:
        log.warning(
            "no free port for /metrics",
            extra={"component": component, "first": ports[0], "last": ports[-1]},
        )
    return None
