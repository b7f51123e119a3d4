"""The event backbone on real Kafka: groups, ordering, dead letters, retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from faststream.kafka import KafkaBroker

from infra.kafka import Delivery, EventPublisher, RetryPolicy, make_broker, subscribe
from infra.settings import Settings
from schemas import (
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_ID,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_TOPIC,
    HEADER_TYPE,
    MARKET_TICKS,
    CloudEvent,
    MarketTickV1,
    TransientError,
    encode,
)
from tests._kafka import eventually, headers_of, read_topic, wait_assigned

FAST_RETRY = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.05, transient_deadline_s=30)
T0 = datetime(2026, 11, 24, tzinfo=UTC)


def tick(symbol: str, i: int, price: str = "100") -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(
        symbol=symbol, price=Decimal(price) + i, venue="test", ts=T0 + timedelta(seconds=i)
    )
    return CloudEvent.new(data, source="/tests")


async def start(*brokers: KafkaBroker) -> None:
    for broker in brokers:
        await broker.start()
    for broker in brokers:
        await wait_assigned(broker)


async def test_two_consumers_in_one_group_share_partitions_and_see_each_event_once(
    settings: Settings, topics: None
) -> None:
    seen: dict[str, list[Delivery]] = {"a": [], "b": []}
    brokers = []
    for name, sink in seen.items():

        async def handle(batch: Sequence[Delivery], sink: list[Delivery] = sink) -> None:
            sink.extend(batch)

        broker = make_broker(settings, client_id=f"test-{name}")
        subscribe(broker, settings, MARKET_TICKS, group="roundtrip", handler=handle)
        brokers.append(broker)
    producer = make_broker(settings)
    try:
        await start(*brokers)

        async def split() -> bool:
            parts = [b.subscribers[0].consumer.assignment() for b in brokers]  # type: ignore[attr-defined]
            return all(parts) and len(parts[0] | parts[1]) == MARKET_TICKS.partitions

        await eventually(split)
        await producer.start()
        publisher = EventPublisher(producer, settings)
        symbols = [f"SYM{i}USDT" for i in range(12)]
        events = [tick(s, i) for i in range(25) for s in symbols]
        await publisher.publish_many(events)

        async def all_seen() -> bool:
            return len(seen["a"]) + len(seen["b"]) >= len(events)

        await eventually(all_seen)
        await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
    finally:
        for broker in (*brokers, producer):
            await broker.stop()

    got = seen["a"] + seen["b"]
    assert sorted(d.event.id for d in got) == sorted(e.id for e in events)
    assert seen["a"], "both consumers must get partitions"
    assert seen["b"], "both consumers must get partitions"
    assert not {d.partition for d in seen["a"]} & {d.partition for d in seen["b"]}
    for symbol in symbols:  # per-key order holds
        mine = sorted((d for d in got if d.event.subject == symbol), key=lambda d: d.offset)
        assert [d.event.data.ts for d in mine] == sorted(d.event.data.ts for d in mine)
        assert len({d.partition for d in mine}) == 1


async def test_poison_and_invalid_records_go_to_the_dlq_and_the_next_good_one_is_processed(
    settings: Settings, topics: None
) -> None:
    handled: list[Delivery] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        handled.extend(batch)

    consumer = make_broker(settings)
    subscribe(broker=consumer, settings=settings, topic=MARKET_TICKS, group="dlq", handler=handle)
    producer = make_broker(settings)
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    good1, good2 = tick("BTCUSDT", 1), tick("BTCUSDT", 2)
    invalid = json.loads(encode(tick("BTCUSDT", 3)))
    invalid["data"]["price"] = "-5"
    unknown = json.loads(encode(tick("BTCUSDT", 4)))
    unknown["type"] = "ixo.market.candle.v1"
    bad_values = [
        b"\x00\x01 definitely not json",
        json.dumps(invalid).encode(),
        json.dumps(unknown).encode(),
    ]
    try:
        await start(consumer)
        await producer.start()
        publisher = EventPublisher(producer, settings)
        await publisher.publish(good1)
        for value in bad_values:
            await (await publisher.send_raw(topic, value, key="BTCUSDT", headers={"h": "1"}))
        await publisher.publish(good2)

        async def good_ones() -> bool:
            return len(handled) >= 2

        await eventually(good_ones)
        dead = await eventually(lambda: read_topic(settings, MARKET_TICKS.dlq))
    finally:
        await consumer.stop()
        await producer.stop()

    assert [d.event.id for d in handled] == [good1.id, good2.id]
    assert [r.value for r in dead] == bad_values
    kinds = [headers_of(r)[HEADER_ERROR_TYPE] for r in dead]
    assert kinds == ["not_json", "invalid_event", "unknown_type"]
    for record in dead:
        headers = headers_of(record)
        assert headers[HEADER_SOURCE_TOPIC] == topic
        assert int(headers[HEADER_SOURCE_OFFSET]) >= 1
        assert headers[HEADER_ERROR]
        assert headers["h"] == "1"  # the original headers travel with it
        assert record.key == b"BTCUSDT"
    assert "data.price" in headers_of(dead[1])[HEADER_ERROR]
    assert "ixo.market.candle.v1" in headers_of(dead[2])[HEADER_ERROR]


async def test_a_record_whose_handler_keeps_failing_is_dead_lettered_alone(
    settings: Settings, topics: None
) -> None:
    handled: list[str] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        if any(d.event.data.symbol == "BADUSDT" for d in batch):
            msg = "cannot handle BADUSDT"
            raise ValueError(msg)
        handled.extend(d.event.id for d in batch)

    consumer = make_broker(settings)
    subscribe(consumer, settings, MARKET_TICKS, group="fail", handler=handle, policy=FAST_RETRY)
    producer = make_broker(settings)
    events = [tick("OKUSDT", 1), tick("BADUSDT", 2), tick("OKUSDT", 3), tick("ETHUSDT", 4)]
    try:
        await start(consumer)
        await producer.start()
        await EventPublisher(producer, settings).publish_many(events)
        dead = await eventually(lambda: read_topic(settings, MARKET_TICKS.dlq))

        async def rest() -> bool:
            return len(handled) >= 3

        await eventually(rest)
    finally:
        await consumer.stop()
        await producer.stop()

    assert sorted(handled) == sorted(e.id for i, e in enumerate(events) if i != 1)
    assert len(dead) == 1
    headers = headers_of(dead[0])
    assert headers[HEADER_ERROR_TYPE] == "handler_failed"
    assert "ValueError: cannot handle BADUSDT" in headers[HEADER_ERROR]
    assert headers[HEADER_ID] == events[1].id
    assert headers[HEADER_TYPE] == "ixo.market.tick.v1"


async def test_a_transient_failure_is_retried_not_dead_lettered(
    settings: Settings, topics: None
) -> None:
    calls = 0
    handled: list[str] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            msg = "database briefly down"
            raise TransientError(msg)
        handled.extend(d.event.id for d in batch)

    consumer = make_broker(settings)
    subscribe(
        consumer, settings, MARKET_TICKS, group="transient", handler=handle, policy=FAST_RETRY
    )
    producer = make_broker(settings)
    event = tick("BTCUSDT", 1)
    try:
        await start(consumer)
        await producer.start()
        await EventPublisher(producer, settings).publish(event)

        async def done() -> bool:
            return bool(handled)

        await eventually(done)
    finally:
        await consumer.stop()
        await producer.stop()
    assert handled == [event.id]
    assert calls == 4
    assert await read_topic(settings, MARKET_TICKS.dlq) == []
