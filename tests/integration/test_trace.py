"""The trace index end to end: events on real topics -> the projector's ``trace`` subscriber ->
Redis -> ``ixo trace`` and the service layer; and a chat request's correlation id carried by
the real orchestrator (responses, tool call, the rule it created) and the real rule engine (the
alert that rule fired), found in one trace."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from consumers.orchestrator.app import build_app as build_orchestrator
from consumers.projector import TraceEntry
from consumers.projector.app import build_app as build_projector
from consumers.projector.app import trace_index
from consumers.rule_engine.app import GROUP_RULES
from consumers.rule_engine.app import build_app as build_rule_engine
from infra.kafka import EventPublisher
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    CHAT_REQUESTS,
    MARKET_TICKS,
    AlertRuleCreatedV1,
    AlertTriggeredV1,
    AnyEvent,
    Channel,
    ChatMessageReceivedV1,
    ChatResponseCompletedV1,
    CloudEvent,
    Condition,
    MarketTickV1,
    NotificationDeliveredV1,
)
from tests._cli import aixo
from tests._kafka import eventually, group_caught_up, read_topic, running

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    await trace_index(settings, client).clear()
    await client.aclose()


async def trace_of(settings: Settings, client: Redis, cid: str, count: int) -> list[TraceEntry]:
    """The trace of ``cid`` once it has ``count`` events."""

    async def found() -> list[TraceEntry]:
        events, _ = await trace_index(settings, client).lookup(cid, limit=100)
        return events if len(events) >= count else []

    return await eventually(found, timeout=60)


async def test_the_trace_index_finds_a_request_across_topics_in_time_order(
    settings: Settings,
    settings_env: dict[str, str],
    publisher: EventPublisher,
    redis_client: Redis,
) -> None:
    request = CloudEvent.new(
        ChatMessageReceivedV1(session_id="s-1", user_id="alice", channel="web", text="hi"),
        source="/tests",
        time=NOW,
    )
    answer = CloudEvent.new(
        ChatResponseCompletedV1(session_id="s-1", request_id=request.id, text="hello"),
        source="/tests/orchestrator",
        causation=request,
        time=NOW + timedelta(seconds=2),
    )
    above = Condition(kind="above", threshold=Decimal(70000))
    rule = CloudEvent.new(
        AlertRuleCreatedV1(rule_id="r-1", user_id="alice", symbol="BTCUSDT", condition=above),
        source="/tests/orchestrator",
        causation=request,
        time=NOW + timedelta(seconds=1),
    )
    tick = CloudEvent.new(
        MarketTickV1(symbol="BTCUSDT", price=Decimal(70001), venue="test", ts=NOW),
        source="/tests/market",
        time=NOW + timedelta(seconds=3),
    )
    alert = CloudEvent.new(
        AlertTriggeredV1(
            match_id="m-1",
            rule_id="r-1",
            user_id="alice",
            symbol="BTCUSDT",
            price=Decimal(70001),
            condition=above,
            tick_id=tick.id,
            triggered_at=NOW,
        ),
        source="/tests/rule-engine",
        causation=tick,  # an alert is the tick's (its correlation id is the tick's) ...
        time=NOW + timedelta(seconds=4),
    )
    delivered = CloudEvent.new(
        NotificationDeliveredV1(
            match_id="m-1",
            user_id="alice",
            channel=Channel(kind="webhook", target="https://example.org/hook"),
            attempts=1,
            delivered_at=NOW,
        ),
        source="/tests/notifier",
        causation=alert,
        time=NOW + timedelta(seconds=5),
    )
    unrelated = CloudEvent.new(
        ChatMessageReceivedV1(session_id="s-2", user_id="bob", channel="web", text="yo"),
        source="/tests",
        time=NOW,
    )
    async with running(build_projector(settings, names=["trace"])):
        await publisher.publish_many([request, unrelated, rule, answer])
        await trace_of(settings, redis_client, request.id, 3)
        # ... the alert comes once the rule is indexed, its delivery after it (as in real life)
        await publisher.publish_many([tick, alert])
        await trace_of(settings, redis_client, tick.id, 1)
        await publisher.publish(delivered)
        events = await trace_of(settings, redis_client, request.id, 5)

    # In time order, across four topics; the alert and its delivery joined the rule's story.
    assert [(e.topic, e.id) for e in events] == [
        ("ixo.chat.requests", request.id),
        ("ixo.alerts.rules", rule.id),
        ("ixo.chat.responses", answer.id),
        ("ixo.alerts.matches", alert.id),
        ("ixo.notify.deliveries", delivered.id),
    ]
    assert events[1].causationid == request.id
    assert events[0].type == "ixo.chat.message.received.v1"
    assert events[0].subject == "s-1"
    # Ticks are not indexed (IXO_TRACE_SKIP_TOPICS): the alert's own trace is it and its delivery.
    own, _ = await trace_index(settings, redis_client).lookup(tick.id, limit=10)
    assert [e.id for e in own] == [alert.id, delivered.id]

    done = await aixo(settings_env, "trace", request.id, "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["correlation_id"] == request.id
    assert [e["id"] for e in shown["events"]] == [e.id for e in events]
    assert shown["events"][0]["time"] == NOW.isoformat().replace("+00:00", "Z")
    assert {"topic", "partition", "offset", "type", "subject", "source"} <= set(shown["events"][0])

    table = await aixo(settings_env, "trace", request.id)
    assert table.returncode == 0, table.stderr
    assert "ixo.notify.deliveries" in table.stdout
    nothing = await aixo(settings_env, "trace", "no-such-correlation")
    assert nothing.returncode == 0
    assert "nothing indexed" in nothing.stdout + nothing.stderr


def ask(text: str) -> AnyEvent:
    data = ChatMessageReceivedV1(session_id="s-trace", user_id="carol", channel="cli", text=text)
    return CloudEvent.new(data, source="/tests")


async def test_a_chat_requests_correlation_id_reaches_its_rule_and_the_rules_alert(
    settings: Settings, topics: None, publisher: EventPublisher, redis_client: Redis
) -> None:
    """The orchestrator (offline planner: no model) creates a rule for the request; the rule
    engine fires it on a tick; the trace of the request holds all of it."""
    request = ask("alert BTC above 70000")
    async with (
        running(build_projector(settings, names=["trace"])),
        running(build_orchestrator(settings)),
        running(build_rule_engine(settings)),
    ):
        await publisher.publish(request, CHAT_REQUESTS)

        async def rule_created() -> bool:
            return any(
                json.loads(r.value)["type"] == "ixo.alert.rule.created.v1"
                for r in await read_topic(settings, ALERT_RULES)
            )

        await eventually(rule_created, timeout=90)
        await eventually(lambda: group_caught_up(settings, ALERT_RULES, GROUP_RULES), timeout=60)
        for price in ("69000", "70500"):
            tick = MarketTickV1(
                symbol="BTCUSDT", price=Decimal(price), venue="test", ts=datetime.now(UTC)
            )
            await publisher.publish(CloudEvent.new(tick, source="/tests"), MARKET_TICKS)

        async def fired() -> bool:
            return bool(await read_topic(settings, ALERT_MATCHES))

        await eventually(fired, timeout=60)

        async def complete() -> list[TraceEntry]:
            events, _ = await trace_index(settings, redis_client).lookup(request.id, limit=200)
            types = {e.type for e in events}
            wanted = {
                "ixo.chat.message.received.v1",
                "ixo.agent.tool.called.v1",
                "ixo.chat.response.completed.v1",
                "ixo.alert.rule.created.v1",
                "ixo.alert.triggered.v1",
            }
            return events if wanted <= types else []

        events = await eventually(complete, timeout=60)

    assert events[0].id == request.id
    assert [e.time for e in events] == sorted(e.time for e in events)
    by_type = {e.type: e for e in events}
    assert by_type["ixo.alert.rule.created.v1"].causationid == request.id
    assert by_type["ixo.chat.response.completed.v1"].causationid == request.id
    assert by_type["ixo.alert.triggered.v1"].topic == "ixo.alerts.matches"
