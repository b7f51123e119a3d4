"""Publish typed events: envelope to bytes, key = subject, ``ce_type``/``ce_id`` headers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker

from infra.settings import Settings
from schemas import CATALOGUE, HEADER_ID, HEADER_TYPE, AnyEvent, Topic, TransientError, encode

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


def record_headers(event: AnyEvent) -> dict[str, str]:
    return {
        "content-type": CLOUDEVENTS_CONTENT_TYPE,
        HEADER_TYPE: event.type,
        HEADER_ID: event.id,
    }


class EventPublisher:
    """Writes events to their catalogue topic (with the deployment's topic prefix).

    ``publish`` waits for the broker's acknowledgement; ``send`` returns a future so hot paths
    can keep many records in flight and wait once (never await each publish on a hot path).
    """

    def __init__(self, broker: KafkaBroker, settings: Settings) -> None:
        self._broker = broker
        self._prefix = settings.topic_prefix

    def topic_name(self, event: AnyEvent, topic: Topic | None = None) -> str:
        return (topic or CATALOGUE.topic_for_type(event.type)).full_name(self._prefix)

    async def publish(self, event: AnyEvent, topic: Topic | None = None) -> RecordMetadata:
        """Publish one event and wait until the broker has it (acks=all).

        Raises :class:`TransientError` when Kafka cannot take it (callers retry or answer 503).
        """
        future = await self.send(event, topic)
        try:
            return await future
        except KafkaError as exc:
            msg = f"Kafka did not accept the event: {exc}"
            raise TransientError(msg) from exc

    async def send(
        self, event: AnyEvent, topic: Topic | None = None
    ) -> asyncio.Future[RecordMetadata]:
        """Queue one event; the returned future resolves when the broker acknowledged it."""
        return await self.send_raw(
            self.topic_name(event, topic),
            encode(event),
            key=event.subject,
            headers=record_headers(event),
        )

    async def send_raw(
        self, topic: str, value: bytes, *, key: str | bytes | None, headers: dict[str, str]
    ) -> asyncio.Future[RecordMetadata]:
        """Queue already-encoded bytes (dead letters, requeues, replays)."""
        raw_key = key.encode() if isinstance(key, str) else key
        try:
            future: Any = await self._broker.publish(
                value, topic=topic, key=raw_key, headers=headers, no_confirm=True
            )
        except (KafkaError, IncorrectState) as exc:
            msg = f"cannot publish to Kafka: {exc}"
            raise TransientError(msg) from exc
        return future  # type: ignore[no-any-return]

    async def publish_many(self, events: Iterable[AnyEvent]) -> list[RecordMetadata]:
        """Publish many events with all of them in flight, then wait for every ack."""
        futures = [await self.send(e) for e in events]
        return list(await asyncio.gather(*futures))
