"""The one publish path: envelope to bytes, key = subject, structured-mode headers, and Kafka's
errors mapped to :class:`TransientError` (retry) or :class:`PermanentError` (this record can
never be published) — on queueing and on the broker's acknowledgement alike."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from faststream.kafka import KafkaBroker

from infra.kafka._errors import publish_error
from infra.settings import Settings
from schemas import (
    CATALOGUE,
    CLOUDEVENTS_CONTENT_TYPE,
    AnyEvent,
    PermanentError,
    Topic,
    encode,
    envelope_headers,
)

__all__ = ["CLOUDEVENTS_CONTENT_TYPE", "EventPublisher", "record_headers"]


def record_headers(event: AnyEvent) -> dict[str, str]:
    """The headers of the record that carries ``event``."""
    return envelope_headers(event.type, event.id)


def _mapped(future: asyncio.Future[RecordMetadata], topic: str) -> asyncio.Future[RecordMetadata]:
    """A future that resolves like ``future`` but fails with our error instead of Kafka's."""
    out: asyncio.Future[RecordMetadata] = future.get_loop().create_future()

    def settle(done: asyncio.Future[RecordMetadata]) -> None:
        if out.done():
            return
        if done.cancelled():
            out.cancel()
            return
        exc = done.exception()
        if exc is None:
            out.set_result(done.result())
            return
        error = publish_error(exc, topic)
        error.__cause__ = exc
        out.set_exception(error)

    future.add_done_callback(settle)
    return out


def _client_of(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The aiokafka producer a connected FastStream broker publishes with (None before it is
    connected, or if FastStream's internals moved: then its own publish is used)."""
    state = getattr(getattr(broker.config, "producer", None), "_producer", None)
    if not state:  # FastStream's "not connected" state is falsy
        return None
    producer = getattr(state, "producer", None)
    return producer if isinstance(producer, AIOKafkaProducer) else None


class EventPublisher:
    """Writes events to their catalogue topic (with the deployment's topic prefix).

    ``publish`` waits for the broker's acknowledgement; ``send`` returns a future so hot paths
    can keep many records in flight and wait once (never await each publish on a hot path).
    Every failure, raised by a method or by awaiting a returned future, is a
    :class:`TransientError` or a :class:`PermanentError` naming Kafka's error as its cause.
    """

    def __init__(self, broker: KafkaBroker, settings: Settings) -> None:
        self._broker = broker
        self._prefix = settings.topic_prefix
        self._direct = not settings.otel_enabled
        """Hand records to the broker's aiokafka producer itself: FastStream's publish costs
        more than the client's send per record (a command object, a uuid4, its middleware
        chain: decision 0183). With tracing on, FastStream's path, whose middleware puts the
        ``traceparent`` header on each record."""

    def topic_name(self, event: AnyEvent, topic: Topic | None = None) -> str:
        return (topic or CATALOGUE.topic_for_type(event.type)).full_name(self._prefix)

    async def publish(self, event: AnyEvent, topic: Topic | None = None) -> RecordMetadata:
        """Publish one event and wait until the broker has it (acks=all)."""
        return await (await self.send(event, topic))

    async def send(
        self, event: AnyEvent, topic: Topic | None = None
    ) -> asyncio.Future[RecordMetadata]:
        """Queue one event; the returned future resolves when the broker acknowledged it."""
        name = self.topic_name(event, topic)
        try:
            value = encode(event)
        except Exception as exc:
            msg = f"cannot serialise {event.type} {event.id} for {name}: {exc}"
            raise PermanentError(msg) from exc
        return await self.send_raw(name, value, key=event.subject, headers=record_headers(event))

    async def send_raw(
        self,
        topic: str,
        value: bytes,
        *,
        key: str | bytes | None,
        headers: Mapping[str, str],
    ) -> asyncio.Future[RecordMetadata]:
        """Queue already-encoded bytes (alerts from an outbox, dead letters, requeues)."""
        raw_key = key.encode() if isinstance(key, str) else key
        client = _client_of(self._broker) if self._direct else None
        try:
            if client is not None:
                future: Any = await client.send(
                    topic,
                    value=value,
                    key=raw_key,
                    headers=[(name, text.encode()) for name, text in headers.items()],
                )
            else:
                future = await self._broker.publish(
                    value, topic=topic, key=raw_key, headers=dict(headers), no_confirm=True
                )
        except Exception as exc:
            raise publish_error(exc, topic) from exc
        return _mapped(future, topic)

    async def publish_many(self, events: Iterable[AnyEvent]) -> list[RecordMetadata]:
        """Publish many events with all of them in flight, then wait for every ack."""
        futures = [await self.send(e) for e in events]
        return list(await asyncio.gather(*futures))
