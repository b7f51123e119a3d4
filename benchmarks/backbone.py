"""Publish and consume 100k tick events through real Kafka: our envelope, codec and FastStream
wiring against raw aiokafka moving the same bytes, in the same run.

    python -m benchmarks.backbone [--events N]

Ours: build each envelope's bytes (``encode``), publish through ``EventPublisher`` (FastStream,
idempotent producer, acks=all, futures collected), then consume with ``infra.kafka.subscribe``
(a batch subscriber that decodes every record into a typed ``CloudEvent[MarketTickV1]``).
Baseline: ``AIOKafkaProducer.send`` of the already-encoded bytes (same producer settings,
futures collected) and an ``AIOKafkaConsumer.getmany`` loop that parses each value with
``orjson.loads`` (the least an application does with a record) and commits per batch, as ours
does. A loop that does not even parse is printed too, for reference.
Consumers are timed from their first record, after the group join (shared/notes).
Also reports the replay speed of the ``prices`` projection over the same topic.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks._stack import bench_settings, result_line
from consumers.projector import PricesProjection, ProjectionStore, replay
from infra.kafka import (
    Delivery,
    EventPublisher,
    ensure_topics,
    make_broker,
    offsets_consumer,
    record_headers,
    subscribe,
)
from infra.mongo import mongo_client, open_database
from infra.runtime import tune_gc
from infra.settings import Settings
from readmodels import READ_MODELS
from schemas import MARKET_TICKS, CloudEvent, MarketTickV1, Topic, encode

SYMBOLS = 50


def make_events(n: int) -> list[CloudEvent[MarketTickV1]]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        CloudEvent.new(
            MarketTickV1(
                symbol=f"S{i % SYMBOLS:02d}USDT",
                price=Decimal(60000 + i % 997) / 10,
                volume=Decimal(i % 13),
                venue="bench",
                ts=t0 + timedelta(milliseconds=i),
            ),
            source="/benchmarks/backbone",
        )
        for i in range(n)
    ]


async def ours_publish(settings: Settings, events: Sequence[CloudEvent[MarketTickV1]]) -> float:
    broker = make_broker(settings, client_id="bench-ours")
    await broker.start()
    publisher = EventPublisher(broker, settings)
    started = time.perf_counter()
    futures = [await publisher.send(e) for e in events]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await broker.stop()
    return len(events) / elapsed


async def raw_publish(
    settings: Settings, topic: str, events: Sequence[CloudEvent[MarketTickV1]]
) -> float:
    records = [
        (e.subject.encode(), encode(e), [(k, v.encode()) for k, v in record_headers(e).items()])
        for e in events
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=1024 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in records]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await producer.stop()
    return len(records) / elapsed


async def ours_consume(settings: Settings, topic: Topic, n: int) -> float:
    done = asyncio.Event()
    count = 0
    first = 0.0

    async def handle(batch: Sequence[Delivery]) -> None:
        nonlocal count, first
        if not count:
            first = time.perf_counter()
        count += len(batch)
        if count >= n:
            done.set()

    broker = make_broker(settings, client_id="bench-ours-consumer")
    subscribe(broker, settings, topic, group="bench-ours", handler=handle, max_records=2000)
    await broker.start()
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.perf_counter() - first
    await broker.stop()
    return n / elapsed


async def raw_consume(settings: Settings, topic: str, n: int, *, parse: bool = True) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_servers,
        group_id=f"{settings.topic_prefix}raw-{parse}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    count = 0
    first = 0.0
    while count < n:
        batch = await consumer.getmany(timeout_ms=200, max_records=2000)
        for records in batch.values():
            if not count and records:
                first = time.perf_counter()
            count += len(records)
            if parse:
                for record in records:
                    orjson.loads(record.value)
        if batch:
            await consumer.commit()
    elapsed = time.perf_counter() - first
    await consumer.stop()
    return n / elapsed


async def replay_rate(settings: Settings) -> tuple[float, int]:
    client = mongo_client(settings)
    db = await open_database(settings, client, documents=READ_MODELS)
    try:
        async with offsets_consumer(settings) as consumer:
            topic = MARKET_TICKS.full_name(settings.topic_prefix)
            await consumer._client.force_metadata_update()
            result = await replay(ProjectionStore(db), PricesProjection(), consumer, topic)
        return result.rate, result.records
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()


async def main(n: int) -> None:
    tune_gc()  # as every service does at start (infra.runtime); it applies to both paths
    with bench_settings("backbone") as settings:
        raw_topic = Topic(
            "bench.raw.ticks",
            "symbol",
            (),
            partitions=MARKET_TICKS.partitions,
            retention_ms=3600_000,
        )
        await ensure_topics(settings, [MARKET_TICKS, MARKET_TICKS.dlq, raw_topic])
        events = make_events(n)
        raw_name = raw_topic.full_name(settings.topic_prefix)
        pub_raw = await raw_publish(settings, raw_name, events)
        pub_ours = await ours_publish(settings, events)
        con_raw = await raw_consume(settings, raw_name, n)
        con_ours = await ours_consume(settings, MARKET_TICKS, n)
        con_bare = await raw_consume(settings, raw_name, n, parse=False)
        print(
            f"publish  ours={pub_ours:,.0f}/s raw={pub_raw:,.0f}/s ratio={pub_ours / pub_raw:.2f}"
        )
        print(
            f"consume  ours={con_ours:,.0f}/s raw={con_raw:,.0f}/s ratio={con_ours / con_raw:.2f}"
            f" (raw without parsing: {con_bare:,.0f}/s)"
        )
        rate, records = await replay_rate(settings)
        print(f"replay   prices projection: {records:,} events at {rate:,.0f} events/s")
        ours = 1 / (1 / pub_ours + 1 / con_ours)
        raw = 1 / (1 / pub_raw + 1 / con_raw)
        print(f"end-to-end (publish then consume) ours={ours:,.0f}/s raw={raw:,.0f}/s")
        print(result_line("backbone", ours, raw, "events/s"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().events))
