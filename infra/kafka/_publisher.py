"""The one publish path: envelope to bytes, key = subject, structured-mode headers, and Kafka's
errors mapped to :class:`TransientError` (retry) or :class:`PermanentError` (this record can
never be published) — on queueing and on the broker's acknowledgement alike."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
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

__all__ = ["CLOUDEVENTS_CONTENT_TYPE", "EventPublisher", "OutRecord", "record_headers"]

OutRecord = tuple[bytes | None, bytes, Mapping[str, str]]
"""An encoded record to publish: key, value, headers."""


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

    async def send_now(
        self, topic: str, records: Sequence[OutRecord]
    ) -> list[asyncio.Future[RecordMetadata]]:
        """Queue a whole batch of encoded records and hand it to the broker at once, without
        the producer's linger: for a caller that has all its records and waits for their acks
        (the rule engine's alerts). ``send_raw`` leaves each partition's batch open for the
        linger (``IXO_KAFKA_LINGER_MS``) in case more records come; here none will.

        The records of a partition go in closed batches (the partition the producer's default
        partitioner picks for the key, as ``send_raw`` would), so each is ready when submitted;
        the futures resolve per batch. A record larger than the broker takes fails its batch's
        future with a PermanentError (the broker's refusal). Off the direct path (not connected,
        tracing on), every record goes through ``send_raw``.
        """
        client = _client_of(self._broker) if self._direct else None
        if client is None:
            return [await self.send_raw(topic, v, key=k, headers=h) for k, v, h in records]
        try:
            partitions = sorted(await client.partitions_for(topic))
        except Exception as exc:
            raise publish_error(exc, topic) from exc
        pick = DefaultPartitioner()
        open_batches: dict[int, Any] = {}
        futures: list[asyncio.Future[RecordMetadata]] = []

        async def submit(partition: int) -> None:
            batch = open_batches.pop(partition)
            batch.close()
            try:
                future = await client.send_batch(batch, topic, partition=partition)
            except Exception as exc:
                raise publish_error(exc, topic) from exc
            futures.append(_mapped(future, topic))

        for key, value, headers in records:
            partition = pick(key, partitions, partitions)
            raw = [(name, text.encode()) for name, text in headers.items()]
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = client.create_batch()
            if batch.append(timestamp=None, key=key, value=value, headers=raw) is None:
                await submit(partition)  # full: send it; a batch takes its first record always
                batch = open_batches[partition] = client.create_batch()
                batch.append(timestamp=None, key=key, value=value, headers=raw)
        for partition in list(open_batches):
            await submit(partition)
        return futures

    async def publish_many(self, events: Iterable[AnyEvent]) -> list[RecordMetadata]:
        """Publish many events with all of them in flight, then wait for every ack."""
        futures = [await self.send(e) for e in events]
        return list(await asyncio.gather(*futures))
