"""The rule engine on real Redis, driven directly (no broker): the index gives exactly the
core's answers, rule changes apply to the next tick, redelivery and crashes neither duplicate nor
lose an alert, and two engines racing on one symbol fire each alert once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from consumers.rule_engine import (
    AlertEvent,
    Book,
    OutgoingAlert,
    RedisRuleStore,
    RuleEngine,
    RuleSpec,
    RuleState,
    Tape,
    TickPoint,
    backtest,
)
from consumers.rule_engine.app import key_prefix
from infra.kafka import Delivery
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AnyEvent,
    CloudEvent,
    MarketTickV1,
    TransientError,
    codec_for,
)

T0 = datetime(2026, 11, 24, tzinfo=UTC)
DECODE = codec_for(ALERT_MATCHES).decode
TICKS = "ixo.market.ticks"
RULES = "ixo.alerts.rules"


class Collect:
    """An alert sink that keeps what it is given; fails ``failures`` times first."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[AlertEvent] = []
        self.failures = failures

    async def publish(self, alerts: Sequence[OutgoingAlert]) -> None:
        if self.failures:
            self.failures -= 1
            msg = "broker down"
            raise TransientError(msg)
        self.events.extend(DECODE(a.raw) for a in alerts)

    def offsets(self) -> list[int]:
        return sorted(e.data.tick_offset or 0 for e in self.events)


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    await RedisRuleStore(client, key_prefix(settings)).clear()
    await client.aclose()


@pytest.fixture
def store(redis: Redis, settings: Settings) -> RedisRuleStore:
    return RedisRuleStore(redis, key_prefix(settings))


def payload(
    rule_id: str,
    kind: str,
    threshold: str,
    *,
    symbol: str = "BTCUSDT",
    window_s: int | None = None,
    repeat: bool = False,
    cooldown_s: int = 0,
    update: bool = False,
) -> AlertRuleCreatedV1 | AlertRuleUpdatedV1:
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
            "repeat": repeat,
            "cooldown_s": cooldown_s,
        }
    )


class Feed:
    """Builds rule and tick deliveries with increasing offsets, like a topic would."""

    def __init__(self) -> None:
        self.rule_offset = 0
        self.tick_offsets: dict[int, int] = {}

    def rules(
        self, *items: AlertRuleCreatedV1 | AlertRuleUpdatedV1 | AlertRuleDeletedV1
    ) -> list[Delivery]:
        out = []
        for item in items:
            out.append(
                Delivery(CloudEvent.new(item, source="/tests"), RULES, 0, self.rule_offset, 0)
            )
            self.rule_offset += 1
        return out

    def ticks(
        self, *prices: tuple[float, str], symbol: str = "BTCUSDT", partition: int = 0
    ) -> list[Delivery]:
        out = []
        for second, price in prices:
            offset = self.tick_offsets.get(partition, 0)
            self.tick_offsets[partition] = offset + 1
            data = MarketTickV1(
                symbol=symbol,
                price=Decimal(price),
                venue="test",
                ts=T0 + timedelta(milliseconds=round(second * 1000)),
            )
            event: AnyEvent = CloudEvent.new(data, source="/tests")
            out.append(Delivery(event, TICKS, partition, offset, 0))
        return out


def seconds(*prices: str, start: int = 0) -> list[tuple[float, str]]:
    return [(start + i, p) for i, p in enumerate(prices)]


async def test_each_kind_at_its_threshold_through_redis(store: RedisRuleStore) -> None:
    sink = Collect()
    engine = RuleEngine(store, sink)
    feed = Feed()
    await engine.on_rules(
        feed.rules(
            payload("above", "above", "100"),
            payload("below", "below", "100"),
            payload("up", "crosses_above", "100"),
            payload("down", "crosses_below", "100"),
            payload("pct", "pct_change", "5", window_s=10),
        )
    )
    prices = seconds("99.99", "100", "101", "99", "100.5", "99.5", "104", "105.3")
    for item in feed.ticks(*prices):  # one tick per batch
        await engine.on_ticks([item])
    fired = sorted((e.data.rule_id, e.data.tick_offset) for e in sink.events)
    assert fired == [
        ("above", 1),  # exactly at 100
        ("below", 0),  # 99.99 <= 100 (then done: no repeat)
        ("down", 3),  # 101 -> 99
        ("pct", 7),  # 105.3 vs 99.99 at t=0 (window 10 s): +5.31 %
        ("up", 1),  # 99.99 -> 100: previous < 100 <= price
    ]
    by_rule = {e.data.rule_id: e for e in sink.events}
    assert by_rule["up"].data.previous_price == Decimal("99.99")
    assert by_rule["pct"].data.reference_price == Decimal("99.99")
    assert by_rule["above"].data.rule_version == 1
    assert {e.data.tick_topic for e in sink.events} == {TICKS}
    # Every alert names the tick that caused it.
    assert all(e.causationid == e.data.tick_id for e in sink.events)


def random_rules(rng: random.Random, n: int, symbols: Sequence[str]) -> list[AlertRuleCreatedV1]:
    kinds = ["above", "below", "crosses_above", "crosses_below", "pct_change"]
    out = []
    for i in range(n):
        kind = rng.choice(kinds)
        extra: dict[str, Any] = {
            "repeat": rng.random() < 0.7,
            "cooldown_s": rng.choice([0, 0, 3, 10]),
        }
        if kind == "pct_change":
            threshold = str(rng.choice([-1, 1]) * Decimal(rng.randint(5, 60)) / 20)
            extra["window_s"] = rng.choice([2, 5, 30])
        else:
            threshold = str(Decimal(rng.randint(9500, 10500)) / 100)
        created = payload(f"r{i}", kind, threshold, symbol=rng.choice(symbols), **extra)
        assert isinstance(created, AlertRuleCreatedV1)
        out.append(created)
    return out


async def test_the_index_finds_exactly_what_checking_every_rule_finds(
    store: RedisRuleStore,
) -> None:
    """Random rules of every kind, a random walk in random batch sizes: the engine (Redis index,
    slices, compare-and-set) fires exactly what stepping every rule on every tick fires."""
    rng = random.Random(7)
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    rules = random_rules(rng, 400, symbols)
    sink = Collect()
    engine = RuleEngine(store, sink)
    feed = Feed()
    await engine.on_rules(feed.rules(*rules))
    deliveries: list[Delivery] = []
    price = {s: Decimal(100) for s in symbols}
    t = 0.0
    for _ in range(1500):
        symbol = rng.choice(symbols)
        price[symbol] = max(Decimal(90), price[symbol] + Decimal(rng.randint(-60, 60)) / 100)
        t += rng.choice([0.25, 0.5, 1.0, 1.0, 2.0])
        partition = symbols.index(symbol)
        deliveries += feed.ticks((t, str(price[symbol])), symbol=symbol, partition=partition)
    i = 0
    while i < len(deliveries):
        size = rng.choice([1, 2, 7, 30, 120, 450])  # 450: concurrent lanes
        await engine.on_ticks(deliveries[i : i + size])
        i += size

    expected: set[str] = set()
    books = {
        s: Book(
            Tape(s, {r.condition.window_s for r in rules if r.symbol == s and r.condition.window_s})
        )
        for s in symbols
    }
    for r in rules:
        books[r.symbol].add(RuleSpec.of(r, version=1), RuleState())
    for d in deliveries:
        tick = TickPoint.of(d)
        expected.update(m.match_id for m in books[tick.symbol].apply(tick))
    got = [e.data.match_id for e in sink.events]
    assert len(got) == len(set(got)), "no alert twice"
    assert len(expected) > 150, "the scenario must fire plenty"
    assert set(got) == expected
    # And each rule alone, backtested over the same ticks, agrees with the live engine.
    for r in rules[:40]:
        mine = {m.alert.match_id for m in await backtest(r, deliveries)}
        assert mine == {e.data.match_id for e in sink.events if e.data.rule_id == r.rule_id}


async def test_rule_updates_and_deletes_apply_to_the_next_tick(store: RedisRuleStore) -> None:
    sink = Collect()
    engine = RuleEngine(store, sink)
    feed = Feed()
    await engine.on_rules(feed.rules(payload("r", "above", "100", repeat=True)))
    await engine.on_ticks(feed.ticks((0, "101")))
    assert sink.offsets() == [0]
    # Raised above the price: a new version, armed again, does not fire on 101 any more.
    await engine.on_rules(feed.rules(payload("r", "above", "102", repeat=True, update=True)))
    await engine.on_ticks(feed.ticks((1, "101")))
    assert sink.offsets() == [0]
    await engine.on_ticks(feed.ticks((2, "102")))
    assert sink.offsets() == [0, 2]
    assert sink.events[-1].data.rule_version == 2
    # A rule that has fired (repeat=false) is re-armed by an update.
    await engine.on_rules(feed.rules(payload("once", "below", "50")))
    await engine.on_ticks(feed.ticks((3, "49")))
    await engine.on_ticks(feed.ticks((4, "48")))
    assert sink.offsets() == [0, 2, 3]
    await engine.on_rules(feed.rules(payload("once", "below", "50", update=True)))
    await engine.on_ticks(feed.ticks((5, "48")))
    assert sink.offsets() == [0, 2, 3, 5]
    # Deleted: nothing more, and the rule is gone from the index.
    await engine.on_rules(
        feed.rules(AlertRuleDeletedV1(rule_id="r", user_id="user-r", symbol="BTCUSDT"))
    )
    await engine.on_ticks(feed.ticks((6, "99"), (7, "150")))
    assert sink.offsets() == [0, 2, 3, 5]
    assert await store.get_rule("r") is None
    # A rule moved to another symbol leaves the old symbol's index.
    await engine.on_rules(feed.rules(payload("mv", "above", "10", symbol="ETHUSDT")))
    await engine.on_rules(feed.rules(payload("mv", "above", "10", symbol="SOLUSDT", update=True)))
    await engine.on_ticks(feed.ticks((8, "11"), symbol="ETHUSDT", partition=1))
    assert [e.data.rule_id for e in sink.events].count("mv") == 0
    await engine.on_ticks(feed.ticks((9, "11"), symbol="SOLUSDT", partition=2))
    assert [e.data.rule_id for e in sink.events].count("mv") == 1


async def test_an_older_rule_event_never_regresses_the_rule(store: RedisRuleStore) -> None:
    engine = RuleEngine(store, Collect())
    feed = Feed()
    created = feed.rules(payload("r", "above", "100"))
    updated = feed.rules(payload("r", "above", "200", update=True))
    await engine.on_rules([*created, *updated])
    found = await store.get_rule("r")
    assert found is not None
    assert (found[0].threshold, found[0].version) == (Decimal(200), 2)
    # The compacted topic replayed (the group rewound): nothing changes.
    await engine.on_rules([*created, *updated])
    found = await store.get_rule("r")
    assert found is not None
    assert (found[0].threshold, found[0].version) == (Decimal(200), 2)
    deleted = feed.rules(AlertRuleDeletedV1(rule_id="r", user_id="user-r", symbol="BTCUSDT"))
    await engine.on_rules(deleted)
    await engine.on_rules([*created, *updated])
    assert await store.get_rule("r") is None
    # A newer create after the delete brings it back, one version up.
    await engine.on_rules(feed.rules(payload("r", "below", "5")))
    found = await store.get_rule("r")
    assert found is not None
    assert (found[0].kind, found[0].version) == ("below", 4)


async def test_redelivered_ticks_fire_nothing_and_a_failed_publish_loses_nothing(
    store: RedisRuleStore,
) -> None:
    sink = Collect(failures=1)
    engine = RuleEngine(store, sink)
    feed = Feed()
    await engine.on_rules(
        feed.rules(payload("a", "above", "100", repeat=True), payload("b", "below", "90"))
    )
    batch = feed.ticks((0, "99"), (1, "101"), (2, "99"), (3, "100"), (4, "80"))
    with pytest.raises(TransientError):
        await engine.on_ticks(batch)  # committed to Redis, publish failed: the outbox holds them
    assert len(await store.outbox("BTCUSDT")) == 3
    outcome = await engine.on_ticks(batch)  # the consumer redelivers the batch
    assert outcome.ticks == 0  # all below the watermark
    assert outcome.alerts == 3  # ... but the outbox is published
    assert await store.outbox("BTCUSDT") == {}
    for _ in range(2):
        again = await engine.on_ticks(batch)
        assert (again.ticks, again.alerts) == (0, 0)
    assert sink.offsets() == [1, 3, 4]
    # A batch that overlaps what was processed: only the new tick counts.
    more = feed.ticks((5, "99"), (6, "100.5"))
    outcome = await engine.on_ticks([*batch[3:], *more])
    assert (outcome.ticks, outcome.alerts) == (2, 1)
    assert sink.offsets() == [1, 3, 4, 6]


async def test_two_engines_racing_on_one_symbol_fire_each_alert_once(
    redis: Redis, settings: Settings
) -> None:
    sinks = [Collect(), Collect()]
    engines = [RuleEngine(RedisRuleStore(redis, key_prefix(settings)), s) for s in sinks]
    feed = Feed()
    rules = [payload(f"r{i}", "crosses_above", str(100 + i), repeat=True) for i in range(20)]
    await engines[0].on_rules(feed.rules(*rules))
    walk = [str(95 + (i * 7) % 30) for i in range(60)]
    batches = [feed.ticks(*seconds(*walk[i : i + 5], start=i)) for i in range(0, 60, 5)]
    for batch in batches:
        # A rebalance hand-over: both engines get the same batch at once.
        await asyncio.gather(engines[0].on_ticks(batch), engines[1].on_ticks(batch))
    events = sinks[0].events + sinks[1].events
    ids = {e.data.match_id for e in events}
    # A loser may re-publish what the winner has not yet cleared from the outbox: the very same
    # event (same id), which consumers drop by match_id.
    assert len(ids) == len({e.id for e in events})
    expected: set[str] = set()
    for r in rules:
        expected |= {m.alert.match_id for m in await backtest(r, [d for b in batches for d in b])}
    assert ids == expected
    assert len(expected) > 20
