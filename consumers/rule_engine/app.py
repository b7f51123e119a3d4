"""FastStream wiring of the rule engine, and the Kafka/Redis entry points the CLI and the gateway
call (backtest over the ticks topic, a saved rule as the engine holds it).

AsyncAPI: ``faststream docs gen --factory consumers.rule_engine.app:build_app`` (settings from
the environment; nothing is contacted)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from faststream import FastStream

from consumers.rule_engine._backtest import BacktestMatch, backtest_range
from consumers.rule_engine._engine import RuleEngine
from consumers.rule_engine._matching import RulePayload, RuleSpec
from consumers.rule_engine._redis import RedisRuleStore
from consumers.rule_engine._types import OutgoingAlert
from infra.kafka import (
    Delivery,
    EventPublisher,
    KafkaTickHistory,
    make_broker,
    subscribe,
)
from infra.redis import key_prefix as _key_prefix
from infra.redis import redis_client
from infra.settings import Settings, get_settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    MARKET_TICKS,
    AlertTriggeredV1,
    envelope_headers,
)

GROUP_RULES = "ixo.rule-engine.rules"
GROUP_TICKS = "ixo.rule-engine.ticks"
REDIS_COMPONENT = "rule-engine"
ALERT_TYPE = AlertTriggeredV1.event_type
TICK_BATCH = 1000
"""Ticks per handler call at most: a batch's Redis work is mostly per symbol, so a backlog is
matched faster in bigger batches; with no backlog, batches are as small as what arrived."""


def key_prefix(settings: Settings) -> str:
    """The Redis key prefix of the engine's state (the deployment's topic prefix included)."""
    return _key_prefix(settings, REDIS_COMPONENT)


class KafkaAlertSink:
    """Publishes alerts on ``ixo.alerts.matches`` with all of them in flight, then awaits acks.

    The bytes are the ones the engine stored in its outbox (encoded once)."""

    def __init__(self, publisher: EventPublisher, settings: Settings) -> None:
        self._publisher = publisher
        self._topic = ALERT_MATCHES.full_name(settings.topic_prefix)

    async def publish(self, alerts: Sequence[OutgoingAlert]) -> None:
        """Raises TransientError or PermanentError (the publisher maps Kafka's errors)."""
        send = self._publisher.send_raw
        futures = [
            await send(
                self._topic, a.raw, key=a.key, headers=envelope_headers(ALERT_TYPE, a.event_id)
            )
            for a in alerts
        ]
        await asyncio.gather(*futures)


def build_app(settings: Settings | None = None, *, max_records: int = TICK_BATCH) -> FastStream:
    """The rule engine: rule events into the Redis index, ticks into ``ixo.alert.triggered.v1``.

    Any number of these, in one pair of consumer groups, share the work (state is in Redis).
    ``settings`` default to the environment's. Building contacts nothing (the Redis client
    connects on first use), so the AsyncAPI document can be generated offline.
    """
    settings = settings or get_settings()
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
    return await backtest_range(
        KafkaTickHistory(settings), rule, since=since, until=until, rule_version=rule_version
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
