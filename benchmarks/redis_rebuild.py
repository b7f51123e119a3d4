"""Rebuilding the rule engine's Redis state after a loss: how long it takes against a raw drain
of the same records.

    python -m benchmarks.redis_rebuild [--rules N] [--ticks N] [--fired N]

Setup: ``--rules`` rules over 50 symbols on ``ixo.alerts.rules``, ``--ticks`` ticks on
``ixo.market.ticks`` (all within the warm-up window, so every tick is replayed), and for
``--fired`` rules near the price every match they make on ``ixo.alerts.matches`` (as a live
engine would have published them: the rebuild must publish none again), the tick group
committed at the end. Ours: ``consumers.rule_engine._rebuild.rebuild``
through ``rebuild_state`` (clear, fold the rules, read the alerts, replay the ticks through the
engine into Redis, marker). Baseline: a group-less aiokafka consumer draining the same three
topics without decoding. Both on the same stack, one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import OffsetAndMetadata

from benchmarks._stack import bench_settings, result_line
from consumers.rule_engine import backtest
from consumers.rule_engine.app import GROUP_TICKS, rebuild_state
from infra.kafka import (
    Delivery,
    EventPublisher,
    KafkaLog,
    admin_client,
    client_options,
    ensure_topics,
    make_broker,
    partitions_of,
)
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    MARKET_TICKS,
    AlertRuleCreatedV1,
    AnyEvent,
    CloudEvent,
    Condition,
    MarketTickV1,
)

SYMBOLS = [f"S{i:02d}USDT" for i in range(50)]


async def _setup(settings: Settings, rules: int, ticks: int, fired: int) -> None:
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(seconds=ticks // 1000 + 30)
    tick_events: list[AnyEvent] = [
        CloudEvent.new(
            MarketTickV1(
                symbol=SYMBOLS[i % len(SYMBOLS)],
                price=Decimal(1000 + rng.randint(-500, 499)) / 10,
                venue="bench",
                ts=start + timedelta(milliseconds=i),
            ),
            source="/bench",
        )
        for i in range(ticks)
    ]
    rule_events = [
        AlertRuleCreatedV1(
            rule_id=f"r{i}",
            user_id=f"u{i % 1000}",
            symbol=SYMBOLS[i % len(SYMBOLS)],
            condition=Condition(kind="above", threshold=Decimal(150 + i % 100)),
            repeat=True,
        )
        for i in range(rules)
    ]
    # Rules that fired: armed near the first ticks' prices.
    for i in range(min(fired, rules)):
        rule_events[i] = rule_events[i].model_copy(
            update={"condition": Condition(kind="above", threshold=Decimal(90))}
        )
    broker = make_broker(settings, client_id="bench-rebuild")
    await broker.connect()
    try:
        publisher = EventPublisher(broker, settings)
        await publisher.publish_many([CloudEvent.new(r, source="/bench") for r in rule_events])
        await publisher.publish_many(tick_events)
        codec_ticks = KafkaLog(settings, MARKET_TICKS)
        deliveries: list[Delivery] = [d async for d in codec_ticks.read()]
        alerts = []  # every match of the fired rules, as a live engine would have published
        for r in rule_events[:fired]:
            found = await backtest(r, deliveries, rule_version=1)
            alerts += [CloudEvent.new(m.alert, source="/bench") for m in found]
        await publisher.publish_many(alerts)
    finally:
        await broker.stop()
    ends = await KafkaLog(settings, MARKET_TICKS).end_offsets()
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=settings.group(GROUP_TICKS),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = await partitions_of(consumer, MARKET_TICKS.full_name(settings.topic_prefix))
        consumer.assign(tps)
        await consumer.commit({tp: OffsetAndMetadata(ends[tp.partition], "") for tp in tps})
    finally:
        await consumer.stop()


async def _drain(settings: Settings) -> int:
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    count = 0
    try:
        tps = []
        for topic in (ALERT_RULES, ALERT_MATCHES, MARKET_TICKS):
            tps += await partitions_of(consumer, topic.full_name(settings.topic_prefix))
        ends = await consumer.end_offsets(tps)
        todo = [tp for tp in tps if ends[tp] > 0]
        consumer.assign(todo)
        await consumer.seek_to_beginning(*todo)
        remaining = set(todo)
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            count += sum(len(v) for v in batch.values())
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return count


async def main(rules: int, ticks: int, fired: int) -> None:
    with bench_settings("rebuild") as settings:
        await ensure_topics(settings, [ALERT_RULES, ALERT_MATCHES, MARKET_TICKS])
        try:
            await _setup(settings, rules, ticks, fired)
            began = time.perf_counter()
            records = await _drain(settings)
            drained = time.perf_counter() - began
            began = time.perf_counter()
            summary = await rebuild_state(settings)
            rebuilt = time.perf_counter() - began
            assert summary is not None
            assert summary.published == 0, "the rebuild published alerts again"
            print(
                f"rules={summary.rules} fired_rules={summary.fired_rules} ticks={summary.ticks} "
                f"already_published={summary.already_published} published={summary.published}"
            )
            print(f"raw drain: {records} records in {drained:.2f}s; rebuild: {rebuilt:.2f}s")
            print(result_line("redis_rebuild", records / rebuilt, records / drained, "records/s"))
        finally:
            async with admin_client(settings) as admin:
                names = [
                    t.full_name(settings.topic_prefix)
                    for t in (ALERT_RULES, ALERT_MATCHES, MARKET_TICKS)
                ]
                with contextlib.suppress(Exception):
                    await admin.delete_topics(names)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=50_000)
    parser.add_argument("--fired", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.rules, args.ticks, args.fired))
