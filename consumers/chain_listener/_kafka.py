"""The listener's Kafka adapters.

:class:`KafkaWatchFeed`: the compacted ``ixo.chain.watches`` read whole by a group-less
consumer (every listener needs every watch; the topic is small), then followed.

:class:`KafkaBatchSink`: observed logs written as record batches per partition (one address is
one key, so a range's logs share a partition) with an idempotent, acks=all producer: about four
times the rate of one ``publish`` per record (shared/notes), which the backfill needs to keep
up with the node (decision 0146). Records are the house's structured CloudEvents with the same
headers as every other publisher's.

A record that is not a valid watch event is logged and skipped: the topic is written by
``ixo chain watch`` and the deploy commands, which validate first, and a compacted topic's
records cannot be dead-lettered without the next compaction losing the key's history anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from schemas import (
    AnyEvent,
    EventData,
    InvalidEvent,
    PermanentError,
    TransientError,
    encode,
    envelope_headers,
)

log = logging.getLogger(__name__)

POLL_MS: Final = 500
Apply = Callable[[EventData], None]


class KafkaWatchFeed:
    def __init__(
        self, consumer: AIOKafkaConsumer, topic: str, decode: Callable[[bytes], AnyEvent]
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._decode = decode
        self._assigned: list[TopicPartition] = []

    async def load(self, apply: Apply) -> int:
        """Fold the whole topic as it is now (from the beginning to the end offsets); the
        number of records read."""
        consumer = self._consumer
        try:
            await consumer._client.force_metadata_update()
            parts = sorted(consumer.partitions_for_topic(self._topic) or ())
            if not parts:
                msg = f"the topic {self._topic} does not exist (run `ixo topics --create`)"
                raise TransientError(msg)
            self._assigned = [TopicPartition(self._topic, p) for p in parts]
            consumer.assign(self._assigned)
            await consumer.seek_to_beginning(*self._assigned)
            end = await consumer.end_offsets(self._assigned)
            remaining = {tp for tp in self._assigned if end[tp] > 0}
            count = 0
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=POLL_MS, max_records=1000)
                for records in batch.values():
                    for record in records:
                        count += 1
                        self._apply(apply, record.value, record.offset)
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
        except KafkaError as exc:
            msg = f"cannot read {self._topic}: {exc}"
            raise TransientError(msg) from None
        return count

    async def follow(self, apply: Apply, stop: asyncio.Event) -> None:
        """Apply every new record until ``stop`` (after :meth:`load`)."""
        while not stop.is_set():
            try:
                batch = await self._consumer.getmany(timeout_ms=POLL_MS, max_records=1000)
            except KafkaError as exc:
                log.warning("chain listener: reading %s: %s; retrying", self._topic, exc)
                await asyncio.sleep(1.0)
                continue
            for records in batch.values():
                for record in records:
                    self._apply(apply, record.value, record.offset)

    def _apply(self, apply: Apply, value: bytes | None, offset: int) -> None:
        if value is None:
            return  # a tombstone: the key's watch is gone already by a removed event
        try:
            event = self._decode(value)
        except InvalidEvent as exc:
            log.warning(
                "chain listener: skipped an invalid record at offset %d of %s: %s",
                offset,
                self._topic,
                exc,
            )
            return
        apply(event.data)


class KafkaBatchSink:
    """:class:`consumers.chain_listener.LogSink`: batches per partition, every ack awaited."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._partitions: list[int] | None = None
        self._by_key: dict[bytes, int] = {}
        self._partitioner = DefaultPartitioner()

    async def _partition(self, key: bytes) -> int:
        if self._partitions is None:
            found = sorted(await self._producer.partitions_for(self._topic))
            if not found:
                msg = f"the topic {self._topic} has no partitions"
                raise TransientError(msg)
            self._partitions = found
        partition = self._by_key.get(key)
        if partition is None:
            partition = self._partitioner(key, self._partitions, self._partitions)
            self._by_key[key] = partition
        return partition

    async def publish(self, events: Sequence[AnyEvent]) -> None:
        try:
            await self._publish(events)
        except KafkaError as exc:
            msg = f"cannot publish to {self._topic}: {type(exc).__name__}: {exc}"
            raise TransientError(msg) from None

    async def _publish(self, events: Sequence[AnyEvent]) -> None:
        groups: dict[int, list[tuple[bytes, AnyEvent]]] = {}
        for event in events:
            key = event.subject.encode()
            groups.setdefault(await self._partition(key), []).append((key, event))
        futures = []
        for partition, items in groups.items():
            batch = self._producer.create_batch()
            for key, event in items:
                value = encode(event)
                headers = [
                    (k, v.encode()) for k, v in envelope_headers(event.type, event.id).items()
                ]
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    futures.append(
                        await self._producer.send_batch(batch, self._topic, partition=partition)
                    )
                    batch = self._producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                        msg = (
                            f"the log {event.id} ({len(value)} bytes) is larger than a record"
                            f" batch may be: it cannot be published to {self._topic}"
                        )
                        raise PermanentError(msg)
            futures.append(await self._producer.send_batch(batch, self._topic, partition=partition))
        await asyncio.gather(*futures)
