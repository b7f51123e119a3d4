"""The CLI's Kafka adapter: read records by offset range, connect a publisher, commit requeues.

Third-party errors met while connecting become one-line :class:`CommandError` messages naming the
bootstrap address.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from cli._errors import CommandError
from cli._records import RawRecord
from infra.kafka import client_options, make_broker, partitions_of
from infra.settings import Settings

Start = Literal["beginning", "end"] | datetime
"""Where reading starts: the first retained record, the end (new records only), or a time."""

POLL_MS = 500
MAX_RECORDS = 500


def unreachable(settings: Settings, exc: BaseException) -> CommandError:
    return CommandError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}")


async def topic_partitions(
    consumer: AIOKafkaConsumer, topic: str, settings: Settings
) -> list[TopicPartition]:
    """The partitions of ``topic``; a topic missing on the cluster is a :class:`CommandError`."""
    tps = await partitions_of(consumer, topic)
    if not tps:
        msg = (
            f"topic {topic} does not exist on Kafka at {settings.kafka_bootstrap}"
            " (`ixo up` or `ixo stack up` create the catalogue topics)"
        )
        raise CommandError(msg)
    return tps


async def start_offsets(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: Start
) -> dict[TopicPartition, int]:
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    if isinstance(start, datetime):
        stamp = int(start.timestamp() * 1000)
        found = await consumer.offsets_for_times(dict.fromkeys(tps, stamp))
        return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}
    if start == "beginning":
        begins: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        return begins
    return ends


async def read_records(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    *,
    start: Start,
    follow: bool,
    starts: dict[TopicPartition, int] | None = None,
) -> AsyncGenerator[RawRecord, None]:
    """Records of ``tps`` from ``start`` (or explicit ``starts``), in order within a partition.

    Without ``follow`` it stops at the end offsets taken when it started; with ``follow`` it
    waits for new records until the caller stops iterating.
    """
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    positions = starts if starts is not None else await start_offsets(consumer, tps, start)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, positions.get(tp, ends[tp]))
    pending = {tp for tp in tps if positions.get(tp, ends[tp]) < ends[tp]}
    if not follow:
        done = [tp for tp in tps if tp not in pending]
        if done:
            consumer.pause(*done)
        if not pending:
            return
    while True:
        batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
        for tp, records in batches.items():
            for record in records:
                if not follow and record.offset >= ends[tp]:
                    break
                yield RawRecord.from_kafka(record)
        if not follow:
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
            if not pending:
                return


@contextlib.asynccontextmanager
async def connected_broker(settings: Settings, client_id: str) -> AsyncIterator[KafkaBroker]:
    """A connected FastStream broker (for publishing), stopped on exit."""
    broker = make_broker(settings, client_id=client_id)
    try:
        await broker.connect()
    except KafkaError as exc:
        await broker.stop()
        raise unreachable(settings, exc) from None
    try:
        yield broker
    finally:
        await broker.stop()


@contextlib.asynccontextmanager
async def group_consumer(settings: Settings, group: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer in consumer group ``group`` (prefixed), for manual assign and commit."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=settings.group(group),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="ixo-cli",
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise unreachable(settings, exc) from None
    try:
        yield consumer
    finally:
        await consumer.stop()
