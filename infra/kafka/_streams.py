"""Server-Sent Event streams over Kafka topics: a session's chat responses and any topic tail.

Each stream reads with its own group-less consumer (nothing is committed; a browser reconnect
resumes from ``Last-Event-ID`` = ``<partition>:<offset>``). A session's stream reads only the
partition its key hashes to, with Kafka's own partitioner (murmur2).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from infra.kafka._admin import partitions_of
from infra.kafka._security import client_options
from infra.settings import Settings
from schemas import HEADER_TYPE, TransientError, header_map

POLL_MS = 500


@dataclass(frozen=True, slots=True)
class StreamRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    event_type: str | None

    @property
    def sse_id(self) -> str:
        return f"{self.partition}:{self.offset}"


def parse_last_event_id(value: str | None) -> tuple[int, int] | None:
    """``"<partition>:<offset>"`` as sent back by a reconnecting browser, else None."""
    if not value:
        return None
    partition, sep, offset = value.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        return None
    return int(partition), int(offset)


async def stream_records(
    settings: Settings,
    topic: str,
    *,
    key: str | None = None,
    since: datetime | None = None,
    resume: tuple[int, int] | None = None,
    from_beginning: bool = False,
) -> AsyncIterator[StreamRecord]:
    """Follow ``topic`` (only ``key``'s records and partition when given) until cancelled.

    Start: after ``resume`` (partition, offset) when given; else at ``since``; else at the
    beginning or the end.
    """
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        client_id="ixo-gateway-stream",
    )
    try:
        await consumer.start()
    except Exception as exc:
        msg = f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        raise TransientError(msg) from None
    try:
        tps = await partitions_of(consumer, topic)
        wanted = key.encode() if key is not None else None
        if wanted is not None and tps:
            index = DefaultPartitioner()(wanted, [tp.partition for tp in tps], None)
            tps = [TopicPartition(topic, index)]
        consumer.assign(tps)
        await _seek(consumer, tps, since=since, resume=resume, from_beginning=from_beginning)
        while True:
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=500)
            for records in batch.values():
                for r in records:
                    if wanted is not None and r.key != wanted:
                        continue
                    yield StreamRecord(
                        r.partition,
                        r.offset,
                        r.key,
                        r.value or b"",
                        header_map(r.headers).get(HEADER_TYPE),
                    )
            if not batch:
                await asyncio.sleep(0)
    finally:
        await consumer.stop()


async def _seek(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    *,
    since: datetime | None,
    resume: tuple[int, int] | None,
    from_beginning: bool,
) -> None:
    if resume is not None:
        for tp in tps:
            if tp.partition == resume[0]:
                consumer.seek(tp, resume[1] + 1)
            else:
                await consumer.seek_to_end(tp)
        return
    if since is not None:
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])
        return
    if from_beginning:
        await consumer.seek_to_beginning(*tps)
    else:
        await consumer.seek_to_end(*tps)


def default_since(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)
