"""FastStream wiring of the rule engine, and the Kafka/Redis entry points the CLI and the gateway
call (backtest over the ticks topic, a saved rule as the engine holds it)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from aiokafka.errors import KafkaError
from faststream import FastStream
from redis.asyncio import Redis

from consumers.rule_engine._backtest import BacktestMatch, backtest_range
from consumers.rule_engine._engine import RuleEngine
from consumers.rule_engine._matching import RulePayload, RuleSpec
from consumers.rule_engine._redis import RedisRuleStore
from consumers.rule_engine._types import OutgoingAlert
from infra.kafka import (
    CLOUDEVENTS_CONTENT_TYPE,
    Delivery,
    EventPublisher,
    make_broker,
    offsets_consumer,
    subscribe,
)
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    HEADER_ID,
    HEADER_TYPE,
    MARKET_TICKS,
    AlertTriggeredV1,
    TransientError,
)

GROUP_RULES = "ixo.rule-engine.rules"
GROUP_TICKS = "ixo.rule-engine.ticks"
REDIS_TIMEOUT_S = 10.0
ALERT_TYPE = AlertTriggeredV1.event_type
TICK_BATCH = 1000
"""Ticks per handler call at most: a batch's Redis work is mostly per symbol, so a backlog is
matched faster in bigger batches; with no backlog, batches are as small as what arrived."""


def key_prefix(settings: Settings) -> str:
    """The Redis key prefix of the engine's state (the deployment's topic prefix included)."""
    return f"{settings.topic_prefix}ixo:rule-engine:"


def redis_client(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )


class KafkaAlertSink:
    """Publishes alerts on ``ixo.alerts.matches`` with all of them in flight, then awaits acks.

    The bytes are the ones the engine stored in its outbox (encoded once)."""

    def __init__(self, publisher: EventPublisher, settings: Settings) -> None:
        self._publisher = publisher
        self._topic = ALERT_MATCHES.full_name(settings.topic_prefix)

    async def publish(self, alerts: Sequence[OutgoingAlert]) -> None:
        send = self._publisher.send_raw
        try:
            futures = [
                await send(
                    self._topic,
                    a.raw,
                    key=a.key,
                    headers={
                        "content-type": CLOUDEVENTS_CONTENT_TYPE,
                        HEADER_TYPE: ALERT_TYPE,
                        HEADER_ID: a.event_id,
                    },
                )
                for a in alerts
            ]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            msg = f"cannot publish alerts: {exc}"
            raise TransientError(msg) from None


def build_app(settings: Settings, *, max_records: int = TICK_BATCH) -> FastStream:
    """The rule engine: rule events into the Redis index, ticks into ``ixo.alert.triggered.v1``.

    Any number of these, in one pair of consumer groups, share the work (state is in Redis).
    """
    broker = make_broker(settings, client_id="ixo-rule-engine")
    client = redis_client(settings)
    store = RedisRuleStore(client, key_prefix(settings))
    engine = RuleEngine(store, KafkaAlertSink(EventPublisher(broker, settings), settings))

    async def on_rules(batch: Sequence[Delivery]) -> None:
        await engine.on_rules(batch)

    async def on_ticks(batch: Sequence[Delivery]) -> None:
        await engine.on_ticks(batch)

    subscribe(broker, settings, ALERT_RULES, group=GROUP_RULES, handler=on_rules)
    subscribe(
        broker, settings, MARKET_TICKS, group=GROUP_TICKS, handler=on_ticks, max_records=max_records
    )
    app = FastStream(broker)

    @app.after_shutdown
    async def _close() -> None:
        await client.aclose()

    return app


async def backtest_history(
    settings: Settings,
    rule: RulePayload | RuleSpec,
    *,
    since: datetime,
    until: datetime | None = None,
    rule_version: int | None = None,
) -> list[BacktestMatch]:
    """Backtest ``rule`` over ``ixo.market.ticks`` between ``since`` and ``until`` (exchange
    time; ``until`` defaults to now), with the live engine's matching code; publishes nothing."""
    async with offsets_consumer(settings) as consumer:
        return await backtest_range(
            consumer,
            MARKET_TICKS.full_name(settings.topic_prefix),
            rule,
            since=since,
            until=until,
            rule_version=rule_version,
        )


async def saved_rule(settings: Settings, rule_id: str) -> RuleSpec | None:
    """A saved rule as the live engine holds it (its current version), or None if unknown or
    deleted. Pass it to :func:`backtest_history` to backtest a saved rule."""
    client = redis_client(settings)
    try:
        found = await RedisRuleStore(client, key_prefix(settings)).get_rule(rule_id)
    finally:
        await client.aclose()
    return found[0] if found is not None else None
