"""Shared types of the rule engine: what a positioned tick looks like, and the seams (Protocols)
between the matching core, the state store and the alert publisher."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from schemas import AlertTriggeredV1, AnyEvent, CloudEvent

AlertEvent = CloudEvent[AlertTriggeredV1]
"""An ``ixo.alert.triggered.v1`` event in its envelope."""


class Positioned(Protocol):
    """An event and where it sits in Kafka (``infra.kafka.Delivery`` satisfies this)."""

    @property
    def event(self) -> AnyEvent: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


@dataclass(frozen=True, slots=True)
class OutgoingAlert:
    """An ``ixo.alert.triggered.v1`` record to publish: its ids, key (the user) and the encoded
    event, as kept in the outbox."""

    match_id: str
    event_id: str
    key: str
    raw: bytes


class AlertSink(Protocol):
    """Publishes alerts and returns once the broker acknowledged every one of them.

    Raises :class:`schemas.TransientError` when the broker is unavailable (the engine keeps the
    alerts in its outbox and publishes them again on the redelivery).
    """

    async def publish(self, alerts: Sequence[OutgoingAlert]) -> None: ...
