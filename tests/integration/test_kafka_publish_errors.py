"""The one publish path on real Kafka: a record that can never be published is a PermanentError,
dead-lettered at once with its cause, and never holds up the records behind it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiokafka.admin import NewTopic
from faststream.kafka import KafkaBroker

from infra.kafka import (
    Delivery,
    EventPublisher,
    RetryPolicy,
    admin_client,
    make_broker,
    subscribe,
)
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_ID,
    HEADER_SOURCE_OFFSET,
    HEADER_TYPE,
    MARKET_TICKS,
    CloudEvent,
    MarketTickV1,
    PermanentError,
    encode,
)
from tests._kafka import eventually, group_caught_up, headers_of, read_topic, wait_assigned

T0 = datetime(2026, 11, 24, tzinfo=UTC)
OVERSIZED = b"x" * (2 * 1024 * 1024)
GROUP = "permanent"
# Many attempts, so a retried permanent failure would show in the call count.
POLICY = RetryPolicy(attempts=5, backoff_s=0.01, max_backoff_s=0.05, transient_deadline_s=30)


def tick(symbol: str, i: int) -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(
        symbol=symbol, price=Decimal(100 + i), venue="test", ts=T0 + timedelta(seconds=i)
    )
    return CloudEvent.new(data, source="/tests")


async def start(broker: KafkaBroker) -> None:
    await broker.start()
    await wait_assigned(broker)


async def test_a_record_that_can_never_be_published_is_dead_lettered_and_the_next_goes_on(
    settings: Settings, topics: None
) -> None:
    """The probe of issue 10: one record's unpublishable effect stopped its partition for ever."""
    calls: Counter[str] = Counter()
    handled: list[str] = []
    bad = tick("BADUSDT", 2)
    events = [tick("BADUSDT", 1), bad, tick("BADUSDT", 3), tick("ETHUSDT", 4)]

    consumer = make_broker(settings, client_id="test-permanent")
    out = EventPublisher(consumer, settings)

    async def handle(batch: Sequence[Delivery]) -> None:
        for d in batch:
            calls[d.event.id] += 1
            if d.event.id == bad.id:
                # The effect of this record is 2 MB: more than Kafka ever takes.
                target = ALERT_MATCHES.full_name(settings.topic_prefix)
                await (await out.send_raw(target, OVERSIZED, key="u1", headers={}))
        handled.extend(d.event.id for d in batch)

    subscribe(consumer, settings, MARKET_TICKS, group=GROUP, handler=handle, policy=POLICY)
    producer = make_broker(settings)
    try:
        await start(consumer)
        await producer.start()
        await EventPublisher(producer, settings).publish_many(events)
        dead = await eventually(lambda: read_topic(settings, MARKET_TICKS.dlq))

        async def the_rest() -> bool:
            return {e.id for e in events if e is not bad} <= set(handled)

        await eventually(the_rest)
        await eventually(lambda: group_caught_up(settings, MARKET_TICKS, GROUP))
    finally:
        await consumer.stop()
        await producer.stop()

    assert bad.id not in handled
    # Not retried: once in its batch at most, then once alone (a retry policy of 5 attempts).
    assert calls[bad.id] <= 2
    assert len(dead) == 1
    headers = headers_of(dead[0])
    assert headers[HEADER_ERROR_TYPE] == "permanent_error"
    assert "PermanentError" in headers[HEADER_ERROR]
    assert "MessageSizeTooLargeError" in headers[HEADER_ERROR]
    assert headers[HEADER_ID] == bad.id
    assert headers[HEADER_TYPE] == "ixo.market.tick.v1"
    assert json.loads(dead[0].value)["id"] == bad.id
    same_partition = [r for r in await read_topic(settings, MARKET_TICKS) if r.key == b"BADUSDT"]
    assert int(headers[HEADER_SOURCE_OFFSET]) == same_partition[1].offset
    assert await read_topic(settings, ALERT_MATCHES) == []


async def test_a_record_the_broker_refuses_fails_its_future_with_a_permanent_error(
    settings: Settings,
) -> None:
    """Small enough for the producer, too large for the topic: the broker's refusal arrives on
    the acknowledgement, and is mapped there too."""
    name = f"{settings.topic_prefix}small-records"
    async with admin_client(settings) as admin:
        await admin.create_topics(
            [NewTopic(name, 1, 1, topic_configs={"max.message.bytes": "2048"})]
        )
    broker = make_broker(settings)
    await broker.connect()
    try:
        publisher = EventPublisher(broker, settings)
        accepted = await (await publisher.send_raw(name, b"small", key="k", headers={}))
        future = await publisher.send_raw(name, b"y" * 64 * 1024, key="k", headers={})
        with pytest.raises(PermanentError, match="MessageSizeTooLarge") as err:
            await future
    finally:
        await broker.stop()
    assert accepted.offset == 0
    assert err.value.__cause__ is not None


async def test_an_event_that_cannot_be_serialised_is_a_permanent_error(
    settings: Settings, topics: None
) -> None:
    broken = tick("BTCUSDT", 1).model_copy(update={"data": object()})
    broker = make_broker(settings)
    await broker.connect()
    try:
        with pytest.raises(PermanentError, match="cannot serialise"):
            await EventPublisher(broker, settings).send(broken, MARKET_TICKS)
    finally:
        await broker.stop()
    assert await read_topic(settings, MARKET_TICKS) == []
    assert encode(tick("BTCUSDT", 1))  # a sound event still encodes
