"""The rules and alerts projections on real Kafka and FerretDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from consumers.projector.app import build_app
from infra.kafka import EventPublisher, make_broker
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from readmodels import READ_MODELS, ReadModels
from schemas import (
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AlertTriggeredV1,
    AnyEvent,
    CloudEvent,
    Condition,
)
from tests._kafka import eventually, wait_assigned

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client = mongo_client(settings)
    yield await open_database(settings, client, documents=READ_MODELS)
    await client.drop_database(settings.mongodb_database)
    await client.close()


def rule(
    kind: type[AlertRuleCreatedV1] | type[AlertRuleUpdatedV1], rule_id: str, threshold: str
) -> AnyEvent:
    data = kind(
        rule_id=rule_id,
        user_id="u1",
        symbol="BTCUSDT",
        condition=Condition(kind="above", threshold=Decimal(threshold)),
        cooldown_s=60,
    )
    return CloudEvent.new(data, source="/tests")


def match(match_id: str, rule_id: str, price: str) -> AnyEvent:
    data = AlertTriggeredV1(
        match_id=match_id,
        rule_id=rule_id,
        user_id="u1",
        symbol="BTCUSDT",
        price=Decimal(price),
        condition=Condition(kind="above", threshold=Decimal(70000)),
        tick_id="tick-1",
        triggered_at=T0,
        rule_version=2,
        tick_topic="ixo.market.ticks",
        tick_partition=1,
        tick_offset=42,
    )
    return CloudEvent.new(data, source="/tests")


async def test_rules_and_alerts_are_projected_for_their_users(
    settings: Settings, topics: None, db: AsyncDatabase[dict[str, Any]]
) -> None:
    events = [
        rule(AlertRuleCreatedV1, "r1", "70000"),
        rule(AlertRuleUpdatedV1, "r1", "71000.50"),
        rule(AlertRuleCreatedV1, "r2", "80000"),
        CloudEvent.new(
            AlertRuleDeletedV1(rule_id="r2", user_id="u1", symbol="BTCUSDT"), source="/tests"
        ),
        match("m1", "r1", "71001"),
        match("m1", "r1", "71001"),  # a duplicated match keeps one document
        match("m2", "r1", "71500"),
    ]
    producer = make_broker(settings)
    await producer.start()
    await EventPublisher(producer, settings).publish_many(events)
    await producer.stop()
    app = build_app(settings)
    await app.start()
    try:
        assert app.broker is not None
        await wait_assigned(app.broker)  # type: ignore[arg-type]

        reads = ReadModels(db)

        async def projected() -> bool:
            alerts = await db["alerts"].count_documents({})
            return alerts == 2 and await db["rules"].count_documents({}) == 2

        await eventually(projected)
        r1 = await reads.rule("r1")
        r2 = await reads.rule("r2")
        alerts = await reads.alerts("u1")
    finally:
        await app.stop()
    assert r1 is not None
    assert r1.condition == {"kind": "above", "threshold": "71000.5", "window_s": None}
    assert r1.cooldown_s == 60
    assert not r1.deleted
    assert r1.event_type == "ixo.alert.rule.updated.v1"
    assert r2 is not None
    assert r2.deleted
    assert {a.match_id for a in alerts} == {"m1", "m2"}
    m1 = next(a for a in alerts if a.match_id == "m1")
    assert m1.price == "71001"
    assert m1.tick_offset == 42
    assert m1.rule_version == 2
