"""Redis loses the rule engine's and the notifier's working state while they run (their keys
flushed: a Redis restart without persistence, as far as this test's deployment can tell); they
rebuild it from Kafka and go on: every alert that should fire fires exactly once, nothing that
fired before fires again, every delivery happens exactly once. The same through
``ixo rebuild redis`` with the notifier's alert group rewound (every alert redelivered)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from consumers.notifier.app import GROUP_ALERTS
from consumers.notifier.app import build_app as build_notifier
from consumers.notifier.app import state_epoch as notifier_epoch
from consumers.rule_engine import OutgoingAlert, RedisRuleStore, backtest
from consumers.rule_engine._rebuild import rebuild
from consumers.rule_engine.app import GROUP_TICKS, key_prefix
from consumers.rule_engine.app import build_app as build_engine
from consumers.rule_engine.app import state_epoch as engine_epoch
from consumers.scheduler import ManualClock, SchedulerConfig
from consumers.scheduler.app import build_app as build_scheduler
from consumers.scheduler.app import state_epoch as scheduler_epoch
from infra.kafka import Delivery, EventPublisher
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    MARKET_TICKS,
    TASKS_DUE,
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AnyEvent,
    Channel,
    CloudEvent,
    Condition,
    MarketTickV1,
    NotificationDeliveredV1,
    ScheduleCreatedV1,
    codec_for,
    utc_now,
)
from tests._kafka import eventually, group_caught_up, read_topic, rewind, running
from tests.fakes import WebhookReceiver
from tests.integration._notify import FAST, SECRET, outcomes, subscription_event

USER = "alice"


def rule(
    rule_id: str,
    kind: str,
    threshold: str,
    hook: str,
    *,
    symbol: str = "BTCUSDT",
    window_s: int | None = None,
    repeat: bool = True,
) -> AlertRuleCreatedV1:
    condition: dict[str, Any] = {"kind": kind, "threshold": threshold, "window_s": window_s}
    return AlertRuleCreatedV1.model_validate(
        {
            "rule_id": rule_id,
            "user_id": USER,
            "symbol": symbol,
            "condition": Condition.model_validate(condition),
            "channels": [Channel(kind="webhook", target=hook)],
            "repeat": repeat,
        }
    )


def walk(symbol: str, start: datetime, prices: Sequence[str]) -> list[AnyEvent]:
    return [
        CloudEvent.new(
            MarketTickV1(
                symbol=symbol, price=Decimal(p), venue="test", ts=start + timedelta(seconds=i)
            ),
            source="/tests",
        )
        for i, p in enumerate(prices)
    ]


async def flush(redis: Redis, settings: Settings) -> int:
    """Delete every key of this test's deployment (what a FLUSHALL does to it)."""
    keys = [k async for k in redis.scan_iter(match=f"{settings.topic_prefix}*", count=1000)]
    return await redis.delete(*keys) if keys else 0


async def alert_ids(settings: Settings) -> list[str]:
    codec = codec_for(ALERT_MATCHES)
    return [
        codec.decode(r.value or b"").data.match_id
        for r in await read_topic(settings, ALERT_MATCHES)
    ]


async def expected(settings: Settings, rules: Sequence[AlertRuleCreatedV1]) -> list[str]:
    """What the rules fire on every tick on the topic, by the matching core alone."""
    codec = codec_for(MARKET_TICKS)
    records = await read_topic(settings, MARKET_TICKS)
    ticks = [
        Delivery(codec.decode(r.value or b""), r.topic, r.partition, r.offset, 0) for r in records
    ]
    out: list[str] = []
    for r in rules:
        out += [m.alert.match_id for m in await backtest(r, ticks, rule_version=1)]
    return sorted(out)


async def settled(settings: Settings, receiver: WebhookReceiver, want: Sequence[str]) -> None:
    """Every expected alert is on the topic, delivered and has its outcome; the engine's tick
    group has committed every tick; then a moment with nothing more arriving."""

    async def done() -> bool:
        return (
            len(await alert_ids(settings)) >= len(want)
            and len(receiver.valid(USER)) >= len(want)
            and len(await outcomes(settings)) >= len(want)
            and await group_caught_up(settings, MARKET_TICKS, GROUP_TICKS)
            and await group_caught_up(settings, ALERT_MATCHES, GROUP_ALERTS)
        )

    await eventually(done, timeout=60)
    await asyncio.sleep(1.0)  # a duplicate would arrive now; nothing else marks its absence


def delivered_ids(receiver: WebhookReceiver) -> list[str]:
    return sorted(json.loads(r.body)["data"]["match_id"] for r in receiver.valid(USER))


async def check_exactly_once(
    settings: Settings, receiver: WebhookReceiver, want: Sequence[str]
) -> None:
    assert sorted(await alert_ids(settings)) == sorted(want)  # none twice, none missing
    assert delivered_ids(receiver) == sorted(want)
    found = await outcomes(settings)
    assert sorted(e.data.match_id for e in found) == sorted(want)
    assert all(isinstance(e.data, NotificationDeliveredV1) for e in found)


@pytest.fixture
async def rules(
    settings: Settings, publisher: EventPublisher, receiver: WebhookReceiver
) -> AsyncIterator[list[AlertRuleCreatedV1]]:
    receiver.secrets[USER] = SECRET
    hook = receiver.url(USER)
    made = [
        rule("hold", "above", "100", hook, repeat=True),  # fired, still above: stays disarmed
        rule("once", "above", "105", hook, repeat=False),  # fired once: done for good
        rule("cross", "crosses_above", "3000", hook, symbol="ETHUSDT"),  # needs the last price
        rule(
            "jump", "pct_change", "5", hook, symbol="SOLUSDT", window_s=60
        ),  # needs the window's history
    ]
    await publisher.publish(subscription_event(hook, settings, owner=USER))
    gone = rule("gone", "above", "1", hook)
    for r in [*made, gone]:
        await publisher.publish(CloudEvent.new(r, source="/tests"))
    await publisher.publish(
        CloudEvent.new(
            AlertRuleDeletedV1(rule_id="gone", user_id=USER, symbol="BTCUSDT"), source="/tests"
        )
    )
    yield made
    client = Redis.from_url(settings.redis_url)
    await RedisRuleStore(client, key_prefix(settings)).clear()
    await flush(client, settings)
    await client.aclose()


async def wait_rules(settings: Settings, redis: Redis, rules: Sequence[AlertRuleCreatedV1]) -> None:
    store = RedisRuleStore(redis, key_prefix(settings))

    async def known() -> bool:
        held = [await store.get_rule(r.rule_id) for r in rules]
        return all(h is not None for h in held) and await store.get_rule("gone") is None

    await eventually(known, timeout=30)


def phase_one(start: datetime) -> list[AnyEvent]:
    return [
        *walk("BTCUSDT", start, ["99", "101", "102", "106"]),  # hold, once fire
        *walk("ETHUSDT", start, ["2990", "3001"]),  # cross fires
        *walk("SOLUSDT", start, ["10", "10.2", "10.6"]),  # jump fires (+6 %)
    ]


def phase_two(start: datetime) -> list[AnyEvent]:
    return [
        # Still above: hold (waiting) and once (done) must not fire again; back under 100
        # re-arms hold, which fires again at 101.
        *walk("BTCUSDT", start, ["103", "107", "98", "101"]),
        # 3005 is no crossing (the last price 3001 was above); 2999 then 3002 is.
        *walk("ETHUSDT", start, ["3005", "2999", "3002"]),
        # 10.7 against the window's oldest price (10) is +7 %, but jump fired and waits for the
        # change to fall back under 5 %; it does not fire again.
        *walk("SOLUSDT", start, ["10.7"]),
    ]


async def test_a_flush_while_running_rebuilds_and_nothing_fires_or_delivers_twice(
    settings: Settings,
    publisher: EventPublisher,
    receiver: WebhookReceiver,
    redis: Redis,
    rules: list[AlertRuleCreatedV1],
) -> None:
    start = utc_now().replace(microsecond=0) - timedelta(seconds=20)
    async with running(build_engine(settings)), running(build_notifier(settings, FAST)):
        await wait_rules(settings, redis, rules)
        await publisher.publish_many(phase_one(start))
        first = await expected(settings, rules)
        assert len(first) == 4
        await settled(settings, receiver, first)

        assert await flush(redis, settings) > 0
        assert await engine_epoch(settings, redis).current() is None

        await publisher.publish_many(phase_two(start + timedelta(seconds=10)))
        want = await expected(settings, rules)
        assert len(want) == 6  # hold again at 101, cross again at 3002
        await settled(settings, receiver, want)
        assert await engine_epoch(settings, redis).current() is not None
        assert await notifier_epoch(settings, redis).current() is not None

    await check_exactly_once(settings, receiver, want)


def ixo(settings_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=settings_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_ixo_rebuild_redis_restores_state_and_the_ledger(
    settings: Settings,
    settings_env: dict[str, str],
    publisher: EventPublisher,
    receiver: WebhookReceiver,
    redis: Redis,
    rules: list[AlertRuleCreatedV1],
) -> None:
    start = utc_now().replace(microsecond=0) - timedelta(seconds=20)
    async with running(build_engine(settings)), running(build_notifier(settings, FAST)):
        await wait_rules(settings, redis, rules)
        await publisher.publish_many(phase_one(start))
        first = await expected(settings, rules)
        await settled(settings, receiver, first)

    # Redis loses everything while nothing runs, and the notifier's alert group is rewound:
    # every alert will be delivered to it again; the rebuilt ledger must stop every one.
    assert await flush(redis, settings) > 0
    await rewind(settings, ALERT_MATCHES, GROUP_ALERTS)
    done = await asyncio.to_thread(ixo, settings_env, "rebuild", "redis", "--json")
    assert done.returncode == 0, done.stderr
    report = {r["component"]: r for r in json.loads(done.stdout)["rebuilt"]}
    assert report["rule-engine"]["rules"] == 4
    assert report["rule-engine"]["deleted"] == 1
    assert report["rule-engine"]["fired_rules"] == 4
    assert report["rule-engine"]["published"] == 0  # nothing fires again
    assert report["notifier"]["rules"] == 5
    assert report["notifier"]["subscriptions"] == 1
    assert report["notifier"]["deliveries"] == 4
    assert await engine_epoch(settings, redis).current() is not None

    async with running(build_engine(settings)), running(build_notifier(settings, FAST)):
        await publisher.publish_many(phase_two(start + timedelta(seconds=10)))
        want = await expected(settings, rules)
        assert len(want) == 6
        await settled(settings, receiver, want)

    await check_exactly_once(settings, receiver, want)


# -- the scheduler ------------------------------------------------------------------------------


def schedule(clock: ManualClock) -> AnyEvent:
    data = ScheduleCreatedV1.model_validate(
        {
            "schedule_id": "sch-1",
            "user_id": USER,
            "task": "prompt",
            "every_s": 60,
            "prompt": "help",
            "channel": "telegram",
            "chat_id": "7001",
        }
    )
    return CloudEvent.new(data, source="/tests", time=clock())


async def due_ids(settings: Settings) -> list[str]:
    """The slot ids of every due event of the test's schedule, duplicates included."""
    codec = codec_for(TASKS_DUE)
    events = [codec.decode(r.value or b"") for r in await read_topic(settings, TASKS_DUE)]
    return [e.data.slot_id for e in events if e.data.task_id == "sch-1"]


async def test_a_scheduler_that_lost_its_redis_state_while_running_fires_no_slot_twice(
    settings: Settings, publisher: EventPublisher, redis: Redis
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(second=30, microsecond=0))
    base = clock().replace(second=0)
    slots = [f"s:sch-1@{base + timedelta(minutes=i):%Y-%m-%dT%H:%M:%SZ}" for i in (1, 2, 3)]
    await publisher.publish(schedule(clock))
    app = build_scheduler(settings, SchedulerConfig(tick_s=0.05, lease_s=5.0), clock=clock)

    async def fired(n: int) -> list[str]:
        async def enough() -> list[str]:
            found = await due_ids(settings)
            assert len(found) <= n, found
            return found if len(found) == n else []

        return await eventually(enough, timeout=20)

    async with running(app):
        clock.advance(60)
        assert await fired(1) == slots[:1]
        assert await flush(redis, settings) > 0
        clock.advance(60)
        assert await fired(2) == slots[:2]  # not the first slot again, and the second once
        assert await scheduler_epoch(settings, redis).current() is not None
        clock.advance(60)
        assert await fired(3) == slots
        await asyncio.sleep(0.5)  # a duplicate would come now
    assert await due_ids(settings) == slots


# -- a rule that fired before the oldest tick still on the topic --------------------------------


class _Sink:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def publish(self, alerts: Sequence[OutgoingAlert]) -> None:
        self.ids += [a.match_id for a in alerts]


class _Log:
    """The rebuild's source over lists: ticks before ``first`` were deleted by retention."""

    def __init__(self, rule: Delivery, alert: Delivery, ticks: list[Delivery], first: int) -> None:
        self._rule, self._alert, self._ticks, self._first = rule, alert, ticks, first

    async def rules(self) -> list[Delivery]:
        return [self._rule]

    async def alerts(self) -> AsyncIterator[Delivery]:
        yield self._alert

    async def resume_offsets(self) -> dict[int, int]:
        return {0: len(self._ticks)}

    async def tick_offsets_at(self, ts_ms: int) -> dict[int, int]:
        return {0: self._first}

    async def ticks(self, partition: int, start: int, end: int) -> AsyncIterator[Delivery]:
        for t in self._ticks[max(start, self._first) : end]:
            yield t

    def partition_of(self, symbol: str) -> int:
        return 0

    async def first_tick_offset(self, partition: int) -> int:
        return self._first


async def test_a_rule_that_fired_before_the_oldest_tick_stays_disarmed(
    settings: Settings, redis: Redis
) -> None:
    hold = rule("hold", "above", "100", "https://example.test/hook")
    t0 = utc_now().replace(microsecond=0) - timedelta(days=5)
    events = walk("BTCUSDT", t0, ["99", "101", "102", "104", "103", "102", "99", "101"])
    ticks = [
        Delivery(e, "ticks", 0, i, int(e.time.timestamp() * 1000)) for i, e in enumerate(events)
    ]
    fired = (await backtest(hold, ticks[:2], rule_version=1))[0].alert
    store = RedisRuleStore(redis, key_prefix(settings))
    sink = _Sink()
    source = _Log(
        Delivery(CloudEvent.new(hold, source="/t"), "rules", 0, 0, ticks[0].timestamp_ms - 1),
        Delivery(CloudEvent.new(fired, source="/t"), "alerts", 0, 0, ticks[1].timestamp_ms + 1),
        ticks,
        first=3,  # the fire (offset 1) is gone from the ticks topic
    )
    try:
        found = await rebuild(store, sink, source, now_ms=ticks[-1].timestamp_ms)
        assert found.fired_before_history == 1
        # Still above 100 at 104, 103, 102: no fire; 99 re-arms; 101 fires (once).
        assert sink.ids == [m.alert.match_id for m in await backtest(hold, ticks)][1:]
        held = await store.get_rule("hold")
        assert held is not None
        assert held[1].phase == "waiting"
    finally:
        await store.clear()
