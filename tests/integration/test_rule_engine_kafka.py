"""The rule engine end to end on real Kafka and Redis: alerts on ``ixo.alerts.matches`` that
explain themselves, rule changes through the compacted topic, two engines in one group, a
restart and a rewound group, and the backtest over the same live data agreeing with the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from consumers.rule_engine import RedisRuleStore, backtest
from consumers.rule_engine.app import (
    GROUP_RULES,
    GROUP_TICKS,
    backtest_history,
    build_app,
    key_prefix,
    saved_rule,
)
from infra.kafka import Delivery, EventPublisher, make_broker
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    HEADER_TYPE,
    MARKET_TICKS,
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AlertTriggeredV1,
    AnyEvent,
    CloudEvent,
    MarketTickV1,
    codec_for,
    utc_now,
)
from tests._kafka import eventually, group_caught_up, headers_of, read_topic, rewind, wait_assigned

RulePayload = AlertRuleCreatedV1 | AlertRuleUpdatedV1


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[RedisRuleStore]:
    client = Redis.from_url(settings.redis_url)
    store = RedisRuleStore(client, key_prefix(settings))
    yield store
    await store.clear()
    await client.aclose()


@pytest.fixture
async def producer(settings: Settings, topics: None) -> AsyncIterator[EventPublisher]:
    broker = make_broker(settings, client_id="test-producer")
    await broker.start()
    yield EventPublisher(broker, settings)
    await broker.stop()


def rule(
    rule_id: str,
    kind: str,
    threshold: str,
    *,
    symbol: str = "BTCUSDT",
    window_s: int | None = None,
    repeat: bool = True,
    update: bool = False,
) -> RulePayload:
    condition: dict[str, Any] = {"kind": kind, "threshold": threshold}
    if window_s is not None:
        condition["window_s"] = window_s
    model = AlertRuleUpdatedV1 if update else AlertRuleCreatedV1
    return model.model_validate(
        {
            "rule_id": rule_id,
            "user_id": f"user-{rule_id}",
            "symbol": symbol,
            "condition": condition,
            "channels": [{"kind": "webhook", "target": "https://example.test/hook"}],
            "repeat": repeat,
        }
    )


def tick(symbol: str, at: datetime, price: str) -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(symbol=symbol, price=Decimal(price), venue="test", ts=at)
    return CloudEvent.new(data, source="/tests")


def walk(symbol: str, start: datetime, prices: Sequence[str]) -> list[CloudEvent[MarketTickV1]]:
    return [tick(symbol, start + timedelta(seconds=i), p) for i, p in enumerate(prices)]


async def running(*apps: FastStream) -> None:
    for app in apps:
        await app.start()
    for app in apps:
        assert app.broker is not None
        broker: KafkaBroker = app.broker  # type: ignore[assignment]
        await wait_assigned(broker)


async def applied(store: RedisRuleStore, rule_id: str, version: int | None) -> None:
    """Wait until the engine holds ``rule_id`` at ``version`` (None: deleted)."""

    async def probe() -> bool:
        found = await store.get_rule(rule_id)
        if version is None:
            return found is None
        return found is not None and found[0].version == version

    await eventually(probe, timeout=20)


async def caught_up(settings: Settings) -> bool:
    """The engine's tick group has committed every tick on the topic."""
    return await group_caught_up(settings, MARKET_TICKS, GROUP_TICKS)


async def alerts(settings: Settings) -> list[CloudEvent[AlertTriggeredV1]]:
    codec = codec_for(ALERT_MATCHES)
    return [codec.decode(r.value) for r in await read_topic(settings, ALERT_MATCHES)]


async def tick_deliveries(settings: Settings) -> list[Delivery]:
    codec = codec_for(MARKET_TICKS)
    records = await read_topic(settings, MARKET_TICKS)
    return [Delivery(codec.decode(r.value), r.topic, r.partition, r.offset, 0) for r in records]


async def expected(settings: Settings, rules: Sequence[RulePayload], version: int = 1) -> set[str]:
    """The match ids the rules fire on the ticks now on the topic, by the core alone."""
    ticks = await tick_deliveries(settings)
    out: set[str] = set()
    for r in rules:
        out |= {m.alert.match_id for m in await backtest(r, ticks, rule_version=version)}
    return out


async def publish(producer: EventPublisher, events: Sequence[AnyEvent]) -> None:
    await producer.publish_many(events)


async def test_alerts_explain_themselves_and_the_backtest_on_live_data_agrees(
    settings: Settings, producer: EventPublisher, store: RedisRuleStore
) -> None:
    rules = [
        rule("above", "above", "100"),
        rule("cross-down", "crosses_below", "100"),
        rule("cross-up", "crosses_above", "3000", symbol="ETHUSDT"),
        rule("jump", "pct_change", "3", window_s=5),
    ]
    app = build_app(settings)
    await running(app)
    try:
        await publish(producer, [CloudEvent.new(r, source="/tests") for r in rules])
        for r in rules:
            await applied(store, r.rule_id, 1)
        start = utc_now().replace(microsecond=0) - timedelta(seconds=60)
        btc = walk("BTCUSDT", start, ["99", "100", "101", "99.5", "98", "101", "104.1", "99"])
        eth = walk("ETHUSDT", start, ["2990", "3000", "2999", "3001"])
        await publish(producer, [*btc, *eth])
        want = await expected(settings, rules)
        assert len(want) == 7  # above 2, crosses_below 2, crosses_above 2, pct_change 1

        async def all_alerts() -> list[CloudEvent[AlertTriggeredV1]]:
            found = await alerts(settings)
            return found if len(found) >= len(want) else []

        live = await eventually(all_alerts)
    finally:
        await app.stop()

    assert sorted(a.data.match_id for a in live) == sorted(want)
    ticks = {d.event.id: d for d in await tick_deliveries(settings)}
    for alert in live:
        data = alert.data
        origin = ticks[data.tick_id]
        assert alert.causationid == data.tick_id
        assert alert.subject == data.user_id
        assert (data.tick_topic, data.tick_partition, data.tick_offset) == (
            origin.topic,
            origin.partition,
            origin.offset,
        )
        assert data.rule_version == 1
        assert data.price == origin.event.data.price
    records = await read_topic(settings, ALERT_MATCHES)
    assert {r.key for r in records} == {f"user-{r.rule_id}".encode() for r in rules}
    assert {headers_of(r)[HEADER_TYPE] for r in records} == {"ixo.alert.triggered.v1"}

    # The backtest of each saved rule over the topic reports exactly what the engine published.
    for r in rules:
        spec = await saved_rule(settings, r.rule_id)
        assert spec is not None
        found = await backtest_history(settings, spec, since=start - timedelta(seconds=1))
        mine = sorted((a.data for a in live if a.data.rule_id == r.rule_id), key=str)
        assert sorted((m.alert for m in found), key=str) == mine
        assert all(m.reason for m in found)
    # A draft (never saved) runs the same way, version 0.
    draft = rule("draft", "below", "99")
    found = await backtest_history(settings, draft, since=start - timedelta(seconds=1))
    # below 99 with repeat: 99 (exactly), re-armed by 100, 98; re-armed by 101, 99
    offsets = [ticks[btc[i].id].offset for i in (0, 4, 7)]
    assert [m.alert.tick_offset for m in found] == offsets
    assert {m.alert.rule_version for m in found} == {0}


async def test_rule_changes_on_the_topic_apply_to_the_next_tick(
    settings: Settings, producer: EventPublisher, store: RedisRuleStore
) -> None:
    app = build_app(settings)
    await running(app)
    start = utc_now() - timedelta(seconds=30)

    async def send(*events: AnyEvent) -> None:
        await publish(producer, events)
        await eventually(lambda: caught_up(settings))

    try:
        await send(CloudEvent.new(rule("r", "above", "100", repeat=False), source="/tests"))
        await applied(store, "r", 1)
        await send(tick("BTCUSDT", start, "101"), tick("BTCUSDT", start, "102"))
        await send(CloudEvent.new(rule("r", "above", "200", update=True), source="/tests"))
        await applied(store, "r", 2)
        await send(tick("BTCUSDT", start, "150"), tick("BTCUSDT", start, "201"))
        await send(
            CloudEvent.new(
                AlertRuleDeletedV1(rule_id="r", user_id="user-r", symbol="BTCUSDT"),
                source="/tests",
            )
        )
        await applied(store, "r", None)
        await send(tick("BTCUSDT", start, "300"))
    finally:
        await app.stop()
    fired = sorted((a.data.price, a.data.rule_version) for a in await alerts(settings))
    assert fired == [(Decimal(101), 1), (Decimal(201), 2)]


async def test_two_engines_in_one_group_fire_each_alert_exactly_once(
    settings: Settings, producer: EventPublisher, store: RedisRuleStore
) -> None:
    symbols = [f"S{i}USDT" for i in range(12)]
    rules = [rule(f"{s}-{k}", k, "100", symbol=s) for s in symbols for k in ("above", "below")]
    apps = [build_app(settings), build_app(settings)]
    await running(*apps)
    try:
        tick_subs: list[Any] = [a.broker.subscribers[1] for a in apps]  # type: ignore[union-attr]
        assert all(s.consumer.assignment() for s in tick_subs), "both engines own tick partitions"
        await publish(producer, [CloudEvent.new(r, source="/tests") for r in rules])
        for r in rules:
            await applied(store, r.rule_id, 1)
        start = utc_now() - timedelta(seconds=60)
        prices = ["99", "101", "100", "98", "102", "97", "103"]
        await publish(producer, [t for s in symbols for t in walk(s, start, prices)])
        want = await expected(settings, rules)
        await eventually(lambda: caught_up(settings))
    finally:
        for app in apps:
            await app.stop()
    got = [a.data.match_id for a in await alerts(settings)]
    assert len(got) == len(set(got))
    assert set(got) == want
    assert len(want) == len(symbols) * 6


async def test_a_restarted_engine_loses_no_rule_and_a_rewound_group_fires_nothing_twice(
    settings: Settings, producer: EventPublisher, store: RedisRuleStore
) -> None:
    rules = [rule("up", "crosses_above", "100"), rule("down", "crosses_below", "100")]
    start = utc_now() - timedelta(seconds=60)
    first = walk("BTCUSDT", start, ["99", "101", "99", "101"])
    second = walk("BTCUSDT", start + timedelta(seconds=10), ["98", "102", "97"])
    app = build_app(settings)
    await running(app)
    try:
        await publish(producer, [CloudEvent.new(r, source="/tests") for r in rules])
        for r in rules:
            await applied(store, r.rule_id, 1)
        await publish(producer, first)
        await eventually(lambda: caught_up(settings))
    finally:
        await app.stop()
    before = await alerts(settings)
    assert len(before) == 3

    # Rewind both groups to the beginning: every rule event and every tick comes again.
    await rewind(settings, MARKET_TICKS, GROUP_TICKS)
    await rewind(settings, ALERT_RULES, GROUP_RULES)
    assert not await caught_up(settings)

    app = build_app(settings)
    await running(app)
    try:
        await eventually(lambda: caught_up(settings))
        await publish(producer, second)
        await eventually(lambda: caught_up(settings))
    finally:
        await app.stop()
    after = await alerts(settings)
    ids = [a.data.match_id for a in after]
    assert len(ids) == len(set(ids)), "nothing fired twice"
    assert set(ids) == await expected(settings, rules)
    assert len(after) == 3 + 3  # the rules survived the restart and fire on new ticks
    assert [a.data.rule_version for a in after] == [1] * 6
