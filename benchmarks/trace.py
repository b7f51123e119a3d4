"""The trace index at a million events, and a filtered tail beside a raw consumer.

    python -m benchmarks.trace [--events N] [--per-trace N] [--lookups N] [--tail N]

1. Lookup: the index (``RedisTraceIndex``, what the projector writes) is filled directly in bulk
   with N entries (default 1,000,000) spread over N/per-trace correlation ids (default 5 events
   each, as a chat request with a few responses), through the same ``add`` the projector calls;
   then ``--lookups`` random correlation ids are looked up (``lookup``: what ``ixo trace`` and
   ``GET /v1/trace/{id}`` run). RESULT: p99 lookup in ms against the 1 s aim.
2. Tail with a filter: ``--tail`` ticks on a topic, read from the beginning the way ``ixo tail
   --where`` does (``read_records``: every record parsed untyped, the expression evaluated),
   against a raw aiokafka consumer (``getmany``, nothing parsed) reading the same records.
   RESULT: records scanned per second, ours against the raw consumer.

Against a fresh local stack, or the services of ``IXO_*`` with ``IXO_BENCH_STACK=external``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiokafka import AIOKafkaConsumer

from benchmarks._stack import bench_settings, result_line
from cli._where import Where
from consumers.projector import TraceEntry
from consumers.projector.app import trace_index
from infra.kafka import (
    EventPublisher,
    client_options,
    ensure_topics,
    make_broker,
    offsets_consumer,
    read_records,
    topic_partitions,
)
from infra.redis import redis_client
from infra.settings import Settings
from schemas import MARKET_TICKS, CloudEvent, MarketTickV1

BATCH = 5000
AIM_MS = 1000.0


def entries(cids: list[str], start: int, count: int, base: datetime) -> list[TraceEntry]:
    out = []
    for n in range(start, start + count):
        cid = cids[n % len(cids)]
        out.append(
            TraceEntry(
                correlation_id=cid,
                time=base + timedelta(milliseconds=n),
                topic="ixo.chat.responses",
                partition=n % 3,
                offset=n,
                type="ixo.chat.response.delta.v1",
                id=str(uuid.uuid4()),
                subject=f"session-{n % 50_000}",
                source="/consumers/orchestrator",
                causationid=cid,
            )
        )
    return out


async def bench_lookup(settings: Settings, events: int, per_trace: int, lookups: int) -> None:
    client = redis_client(settings)
    index = trace_index(settings, client)
    cids = [str(uuid.uuid4()) for _ in range(max(1, events // per_trace))]
    base = datetime.now(UTC)
    try:
        started = time.perf_counter()
        for start in range(0, events, BATCH):
            await index.add(entries(cids, start, min(BATCH, events - start), base))
        fill_s = time.perf_counter() - started
        print(f"filled {events:,} entries in {fill_s:.1f} s ({events / fill_s:,.0f}/s)")
        latencies = []
        for cid in random.sample(cids, min(lookups, len(cids))):
            t0 = time.perf_counter()
            found, total = await index.lookup(cid, limit=1000)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert total == len(found) >= 1
            assert [e.time for e in found] == sorted(e.time for e in found)
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"lookup of {len(latencies)} traces at {events:,} events: p50 {p50:.2f} ms")
        print(result_line("trace_lookup_p99_ms", p99, AIM_MS, "ms"))
    finally:
        await index.clear()
        await client.aclose()


async def publish_ticks(settings: Settings, count: int) -> None:
    await ensure_topics(settings, [MARKET_TICKS])
    broker = make_broker(settings, client_id="bench-trace")
    await broker.connect()
    try:
        publisher = EventPublisher(broker, settings)
        now = datetime.now(UTC)
        symbols = [f"S{n}USDT" for n in range(50)]
        for start in range(0, count, BATCH):
            batch = [
                CloudEvent.new(
                    MarketTickV1(
                        symbol=symbols[n % 50],
                        price=Decimal(100 + n % 997),
                        venue="bench",
                        ts=now,
                    ),
                    source="/bench",
                )
                for n in range(start, min(count, start + BATCH))
            ]
            await publisher.publish_many(batch)
    finally:
        await broker.stop()


async def ours_tail(settings: Settings, count: int) -> tuple[float, int]:
    """Records scanned per second by the filtered tail (``ixo tail --where``)."""
    where = Where("data.symbol == 'S7USDT' and dec(data.price) > 500")
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    matched = scanned = 0
    async with offsets_consumer(settings) as consumer:
        tps = await topic_partitions(consumer, topic, settings)
        started = time.perf_counter()
        reader = read_records(consumer, tps, start="beginning", follow=False)
        async with contextlib.aclosing(reader) as records:
            async for record in records:
                scanned += 1
                matched += where.matches(record)
        seconds = time.perf_counter() - started
    assert scanned == count, scanned
    return scanned / seconds, matched


async def raw_tail(settings: Settings, count: int) -> float:
    """Records per second of a raw consumer reading the same records (nothing parsed)."""
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic, settings)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        started = time.perf_counter()
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            seen += sum(len(v) for v in batch.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def bench_tail(settings: Settings, count: int) -> None:
    await publish_ticks(settings, count)
    raw = await raw_tail(settings, count)
    ours, matched = await ours_tail(settings, count)
    print(f"filtered tail: {count:,} records scanned, {matched:,} matched")
    print(result_line("trace_tail_filter_records_per_s", ours, raw, "records/s"))


async def main(args: argparse.Namespace) -> None:
    with bench_settings("trace") as settings:
        await bench_lookup(settings, args.events, args.per_trace, args.lookups)
        await bench_tail(settings, args.tail)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--per-trace", type=int, default=5)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--tail", type=int, default=100_000)
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
