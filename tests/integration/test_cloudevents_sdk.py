"""Interop: a subscriber using the official CloudEvents SDK's Kafka binding reads every record we
publish (ticks, alerts, dead letters, requeued records) as the right event.

``from_kafka_event`` takes a record with any ``ce_`` header for binary mode; ours are structured
(``content-type: application/cloudevents+json``, the whole event in the value), so no record we
write may carry one, also when it was first written with the legacy ``ce_type``/``ce_id``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aiokafka.structs import ConsumerRecord
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event
from faststream.kafka import KafkaBroker

from consumers.rule_engine.app import GROUP_RULES, build_app
from infra.kafka import Delivery, EventPublisher, make_broker, subscribe
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    HEADER_ERROR_TYPE,
    MARKET_TICKS,
    AlertRuleCreatedV1,
    CloudEvent,
    MarketTickV1,
    encode,
    utc_now,
)
from tests._kafka import eventually, group_caught_up, read_topic, wait_assigned

SOURCE = "/tests/cloudevents"


def sdk_event(record: ConsumerRecord[bytes, bytes]) -> BaseCloudEvent:
    """What a subscriber written with the SDK gets from this record."""
    headers = dict(record.headers or ())
    return from_kafka_event(
        KafkaMessage(headers=headers, key=record.key, value=record.value or b"")
    )


def assert_structured(record: ConsumerRecord[bytes, bytes]) -> None:
    names = [name for name, _ in record.headers or ()]
    assert not [n for n in names if n.lower().startswith("ce_")], names
    headers = dict(record.headers or ())
    assert headers["content-type"].startswith(b"application/cloudevents+json")


def tick(symbol: str, price: str, seconds: int) -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(
        symbol=symbol,
        price=Decimal(price),
        venue="test",
        ts=utc_now() - timedelta(minutes=5) + timedelta(seconds=seconds),
    )
    return CloudEvent.new(data, source=SOURCE)


async def started(broker: KafkaBroker) -> KafkaBroker:
    await broker.start()
    await wait_assigned(broker)
    return broker


async def test_ticks_and_alerts_read_with_the_sdk(settings: Settings, topics: None) -> None:
    rule = AlertRuleCreatedV1.model_validate(
        {
            "rule_id": "ce-rule-1",
            "user_id": "ce-user",
            "symbol": "BTCUSDT",
            "condition": {"kind": "above", "threshold": "70000"},
            "channels": [{"kind": "webhook", "target": "https://example.test/hook"}],
        }
    )
    ticks = [tick("BTCUSDT", "69000", 0), tick("BTCUSDT", "71000.5", 1)]
    engine = build_app(settings)
    producer = make_broker(settings, client_id="test-ce-producer")
    try:
        await engine.start()
        assert engine.broker is not None
        await wait_assigned(engine.broker)  # type: ignore[arg-type]
        await producer.start()
        publisher = EventPublisher(producer, settings)
        await publisher.publish(CloudEvent.new(rule, source=SOURCE))
        await eventually(lambda: group_caught_up(settings, ALERT_RULES, GROUP_RULES))
        await publisher.publish_many(ticks)
        alerts = await eventually(lambda: read_topic(settings, ALERT_MATCHES))
    finally:
        await engine.stop()
        await producer.stop()

    tick_records = await read_topic(settings, MARKET_TICKS)
    assert len(tick_records) == len(ticks)
    for record, sent in zip(tick_records, ticks, strict=True):
        assert_structured(record)
        event = sdk_event(record)
        assert event.get_id() == sent.id
        assert event.get_source() == SOURCE
        assert event.get_type() == "ixo.market.tick.v1"
        assert event.get_subject() == "BTCUSDT"
        assert event.get_data() == json.loads(encode(sent))["data"]

    assert len(alerts) == 1
    assert_structured(alerts[0])
    alert = sdk_event(alerts[0])
    assert alert.get_type() == "ixo.alert.triggered.v1"
    assert alert.get_source().startswith("/")
    assert alert.get_subject() == "ce-user"
    data: Any = alert.get_data()
    assert data["rule_id"] == "ce-rule-1"
    assert data["price"] == "71000.5"
    assert data["tick_id"] == ticks[1].id


async def test_dead_letters_and_requeued_records_read_with_the_sdk(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    """A bad tick written with the legacy helper headers: its dead letter and its requeued copy
    carry the current headers only, so the SDK reads both as the structured event they hold."""
    bad = json.loads(encode(tick("ETHUSDT", "3000", 0)))
    bad["data"]["price"] = "-1"
    value = json.dumps(bad).encode()
    legacy = {
        "content-type": "application/cloudevents+json; charset=UTF-8",
        "ce_type": bad["type"],
        "ce_id": bad["id"],
    }
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    seen: list[Delivery] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        seen.extend(batch)

    consumer = make_broker(settings, client_id="test-ce-consumer")
    subscribe(consumer, settings, MARKET_TICKS, group="ce-dlq", handler=handle)
    producer = make_broker(settings, client_id="test-ce-producer")
    try:
        await started(consumer)
        await producer.start()
        publisher = EventPublisher(producer, settings)
        await (await publisher.send_raw(topic, value, key="ETHUSDT", headers=legacy))
        dead = await eventually(lambda: read_topic(settings, MARKET_TICKS.dlq))
    finally:
        await consumer.stop()
        await producer.stop()

    assert seen == []
    assert len(dead) == 1
    assert_structured(dead[0])
    assert dict(dead[0].headers)[HEADER_ERROR_TYPE] == b"invalid_event"
    letter = sdk_event(dead[0])
    assert letter.get_id() == bad["id"]
    assert letter.get_type() == "ixo.market.tick.v1"
    assert letter.get_source() == SOURCE
    assert letter.get_subject() == "ETHUSDT"
    assert letter.get_data() == bad["data"]

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "dlq",
        "requeue",
        "ixo.market.ticks",
        "--json",
        env=settings_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, stderr.decode()
    assert json.loads(stdout)["requeued"] == 1

    records = await read_topic(settings, MARKET_TICKS)
    assert len(records) == 2
    requeued = records[-1]
    assert requeued.value == value
    assert requeued.key == b"ETHUSDT"
    assert_structured(requeued)
    names = {name for name, _ in requeued.headers or ()}
    assert not {n for n in names if n.startswith("x-")}
    again = sdk_event(requeued)
    assert again.get_id() == bad["id"]
    assert again.get_type() == "ixo.market.tick.v1"
    assert again.get_source() == SOURCE
    assert again.get_subject() == "ETHUSDT"
    assert again.get_data() == bad["data"]
