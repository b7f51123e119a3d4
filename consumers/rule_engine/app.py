"""FastStream wiring of the rule engine, and the Kafka/Redis entry points the CLI and the gateway
call (backtest over the ticks topic, a saved rule as the engine holds it).

AsyncAPI: ``faststream docs gen --factory consumers.rule_engine.app:build_app`` (settings from
the environment; nothing is contacted)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from faststream import FastStream
from redis.asyncio import Redis

from consumers.rule_engine._backtest import BacktestMatch, backtest_range
from consumers.rule_engine._engine import RuleEngine
from consumers.rule_engine._matching import RulePayload, RuleSpec
from consumers.rule_engine._rebuild import RebuildSummary, rebuild
from consumers.rule_engine._redis import RedisRuleStore
from consumers.rule_engine._types import OutgoingAlert
from infra.kafka import (
    Delivery,
    EventPublisher,
    KafkaLog,
    KafkaTickHistory,
    make_broker,
    partition_for,
    subscribe,
)
from infra.redis import StateEpoch, redis_client
from infra.redis import key_prefix as _key_prefix
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
        """Raises TransientError or PermanentError (the publisher maps Kafka's errors).

        The batch goes to the broker at once (``send_now``): the engine waits for these acks
        before it commits its offsets, so the producer's linger would only add to every
        alert's latency (decision 0185)."""
        records = [
            (a.key.encode(), a.raw, envelope_headers(ALERT_TYPE, a.event_id)) for a in alerts
        ]
        await asyncio.gather(*await self._publisher.send_now(self._topic, records))


class KafkaRebuildSource:
    """What a rebuild of the engine's Redis state reads (``_rebuild.RebuildSource``): the rules
    and alerts topics, and the ticks topic with the tick group's committed offsets."""

    def __init__(self, settings: Settings) -> None:
        self._rules = KafkaLog(settings, ALERT_RULES)
        self._alerts = KafkaLog(settings, ALERT_MATCHES)
        self._ticks = KafkaLog(settings, MARKET_TICKS)

    async def rules(self) -> list[Delivery]:
        return await self._rules.latest()

    def alerts(self) -> AsyncIterator[Delivery]:
        return self._alerts.read()

    async def resume_offsets(self) -> dict[int, int]:
        return await self._ticks.committed(GROUP_TICKS)

    async def tick_offsets_at(self, ts_ms: int) -> dict[int, int]:
        return await self._ticks.offsets_at(ts_ms)

    def ticks(self, partition: int, start: int, end: int) -> AsyncIterator[Delivery]:
        return self._ticks.read({partition: start}, {partition: end})

    def partition_of(self, symbol: str) -> int:
        return partition_for(symbol, MARKET_TICKS.partitions)

    async def first_tick_offset(self, partition: int) -> int:
        return (await self._ticks.beginning_offsets()).get(partition, 0)


def state_epoch(settings: Settings, client: Redis) -> StateEpoch:
    """The generation marker of the engine's Redis state (missing: rebuild before matching)."""
    return StateEpoch(client, key_prefix(settings))


async def rebuild_state(settings: Settings, *, force: bool = True) -> RebuildSummary | None:
    """Rebuild the engine's Redis state from Kafka now (``ixo rebuild redis``): running engines
    wait for it at their next batch. Without ``force``, only if the marker is missing. Returns
    what was restored, or None if nothing had to be."""
    client = redis_client(settings)
    broker = make_broker(settings, client_id="ixo-rule-engine-rebuild")
    found: list[RebuildSummary] = []
    try:
        await broker.connect()
        store = RedisRuleStore(client, key_prefix(settings))
        sink = KafkaAlertSink(EventPublisher(broker, settings), settings)
        source = KafkaRebuildSource(settings)

        async def restore() -> None:
            found.append(await rebuild(store, sink, source, now_ms=int(time.time() * 1000)))

        epoch = state_epoch(settings, client)
        if force:
            await epoch.force(restore)
        else:
            await epoch.ensure(restore)
    finally:
        await broker.stop()
        await client.aclose()
    return found[0] if found else None


def build_app(settings: Settings | None = None, *, max_records: int = TICK_BATCH) -> FastStream:
    """The rule engine: rule events into the Redis index, ticks into ``ixo.alert.triggered.v1``.

    Before each batch the engine checks its state's marker (one ``GET``); when Redis lost the
    state, one engine rebuilds it from Kafka (``_rebuild.py``) and the others wait.

    Any number of these, in one pair of consumer groups, share the work (state is in Redis).
    ``settings`` default to the environment's. Building contacts nothing (the Redis client
    connects on first use), so the AsyncAPI document can be generated offline.
    """
    settings = settings or get_settings()
    broker = make_broker(settings, client_id="ixo-rule-engine")  # the linger kept: decision 0181
    client = redis_client(settings)
    store = RedisRuleStore(client, key_prefix(settings))
    sink = KafkaAlertSink(EventPublisher(broker, settings), settings)
    engine = RuleEngine(store, sink)
    epoch = state_epoch(settings, client)
    source = KafkaRebuildSource(settings)

    async def restore() -> None:
        await rebuild(store, sink, source, now_ms=int(time.time() * 1000))

    async def on_rules(batch: Sequence[Delivery]) -> None:
        await epoch.ensure(restore)
        await engine.on_rules(batch)

    async def on_ticks(batch: Sequence[Delivery]) -> None:
        await epoch.ensure(restore)
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
