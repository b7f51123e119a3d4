"""The subscribers' poll on real Kafka (``infra.kafka.subscribe``, decisions 0182 and 0186):
after a busy batch, the next batch holds every record that reached the broker meanwhile, not
only the few aiokafka had fetched when the busy batch started."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from infra.kafka import Delivery, EventPublisher, _consumer, make_broker, subscribe
from infra.settings import Settings
from schemas import MARKET_TICKS, CloudEvent, MarketTickV1
from tests._kafka import eventually, wait_assigned

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def tick(i: int) -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(
        symbol="BTCUSDT", price=Decimal(100 + i), venue="test", ts=T0 + timedelta(seconds=i)
    )
    return CloudEvent.new(data, source="/tests")


async def test_the_batch_after_a_busy_one_takes_everything_the_broker_has(
    settings: Settings, topics: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A generous bound for the catch-up fetch, so a loaded machine cannot miss it: the poll
    # still returns as soon as the broker answers (it has the records).
    monkeypatch.setattr(_consumer, "CATCH_UP_MS", 5000)
    batches: list[list[int]] = []
    busy, release = asyncio.Event(), asyncio.Event()

    async def handle(batch: Sequence[Delivery]) -> None:
        batches.append([int(d.event.data.price) - 100 for d in batch])
        if len(batches) == 1:
            busy.set()
            await release.wait()

    consumer = make_broker(settings)
    subscribe(consumer, settings, MARKET_TICKS, group="poll", handler=handle)
    producer = make_broker(settings)
    try:
        await consumer.start()
        await wait_assigned(consumer)
        await producer.connect()
        publisher = EventPublisher(producer, settings)
        await publisher.publish(tick(0))
        await asyncio.wait_for(busy.wait(), 30)
        for i in range(1, 6):  # one by one while the handler is busy with tick 0
            await publisher.publish(tick(i))
            await asyncio.sleep(0.05)
        release.set()

        async def all_handled() -> bool:
            return sum(map(len, batches)) >= 6

        await eventually(all_handled)
    finally:
        release.set()
        await consumer.stop()
        await producer.stop()
    # Without the catch-up, tick 1 (fetched alone as soon as tick 0 was taken) came on its
    # own and ticks 2-5 waited for one more handler run.
    assert batches == [[0], [1, 2, 3, 4, 5]]
