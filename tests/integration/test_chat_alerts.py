"""The chat ``alerts`` command end to end, without a model: rule and match events on Kafka ->
projector -> FerretDB -> orchestrator (offline planner) -> ``ixo.chat.responses``. The answer
lists the user's rules and the alerts that fired for them, like the bots' ``/alerts``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from faststream import FastStream
from pymongo import AsyncMongoClient

from consumers.orchestrator.app import build_app as build_orchestrator
from consumers.projector.app import build_app as build_projector
from infra.kafka import EventPublisher, make_broker
from infra.mongo import mongo_client
from infra.settings import Settings
from readmodels import ReadModels
from schemas import (
    CHAT_RESPONSES,
    AlertRuleCreatedV1,
    AlertTriggeredV1,
    AnyEvent,
    ChatMessageReceivedV1,
    CloudEvent,
    Condition,
)
from tests._kafka import eventually, read_topic, wait_assigned

FIRED_AT = datetime(2026, 12, 4, 8, 15, tzinfo=UTC)


async def started(app: FastStream) -> FastStream:
    await app.start()
    assert app.broker is not None
    await wait_assigned(app.broker)  # type: ignore[arg-type]
    return app


@pytest.fixture
async def mongo(settings: Settings) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client = mongo_client(settings)
    yield client
    await client.drop_database(settings.mongodb_database)
    await client.close()


@pytest.fixture
async def apps(settings: Settings, topics: None) -> AsyncIterator[None]:
    """The projector (fills the read models) and the orchestrator with no model configured."""
    projector = await started(build_projector(settings))
    try:
        orchestrator = await started(build_orchestrator(settings))
        try:
            yield
        finally:
            await orchestrator.stop()
    finally:
        await projector.stop()


async def publish(settings: Settings, events: list[AnyEvent]) -> None:
    producer = make_broker(settings)
    await producer.start()
    try:
        await EventPublisher(producer, settings).publish_many(events)
    finally:
        await producer.stop()


def ask(text: str, user_id: str) -> AnyEvent:
    data = ChatMessageReceivedV1(
        session_id=f"s-{user_id}", user_id=user_id, channel="cli", text=text
    )
    return CloudEvent.new(data, source="/tests")


async def answer_to(settings: Settings, request: AnyEvent) -> str:
    async def completed() -> str:
        for record in await read_topic(settings, CHAT_RESPONSES):
            event: dict[str, Any] = json.loads(record.value)
            data = event["data"]
            if (
                event["type"] == "ixo.chat.response.completed.v1"
                and data["request_id"] == request.id
            ):
                return str(data["text"])
        return ""

    return await eventually(completed, timeout=60)


async def test_chat_alerts_lists_rules_and_the_alerts_that_fired(
    settings: Settings, apps: None, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    above = Condition(kind="above", threshold=Decimal(70000))
    rule = AlertRuleCreatedV1(rule_id="r-carol", user_id="carol", symbol="BTCUSDT", condition=above)
    match = AlertTriggeredV1(
        match_id="m-carol-1",
        rule_id="r-carol",
        user_id="carol",
        symbol="BTCUSDT",
        price=Decimal("70012.5"),
        condition=above,
        tick_id="tick-1",
        triggered_at=FIRED_AT,
    )
    other = match.model_copy(update={"match_id": "m-dave-1", "user_id": "dave"})
    await publish(settings, [CloudEvent.new(e, source="/tests") for e in (rule, match, other)])

    reads = ReadModels(mongo[settings.mongodb_database])

    async def projected() -> bool:
        mine, theirs = await reads.alerts("carol"), await reads.alerts("dave")
        return bool(mine and theirs and await reads.rules("carol"))

    await eventually(projected, timeout=60)
    carol, dave = ask("alerts", "carol"), ask("/alerts", "dave")
    await publish(settings, [carol, dave])

    assert (await answer_to(settings, carol)).splitlines() == [
        "Your alerts:",
        "- r-carol: BTCUSDT above 70000",
        "Fired lately:",
        "- 2026-12-04 08:15 UTC: BTCUSDT at 70012.5 (alert r-carol)",
    ]
    # Another user sees only their own fired alert (for a rule that is not theirs: no rules).
    assert (await answer_to(settings, dave)).splitlines() == [
        "You have no alert rules.",
        "Fired lately:",
        "- 2026-12-04 08:15 UTC: BTCUSDT at 70012.5 (alert r-carol)",
    ]
