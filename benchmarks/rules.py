"""The rule engine at scale: 100,000 rules over 50 symbols, matched through the Redis threshold
index, against a naive evaluator that checks every rule of the symbol on every tick.

    python -m benchmarks.rules [--rules N] [--ticks N] [--scales 10000,100000,1000000]

Ours: ``RuleEngine.on_ticks`` (the live handler, minus Kafka) on batches of ``TICK_BATCH``
ticks, the batch size the engine's consumer asks for: per batch, one Lua script reads every
symbol's index slice and state, the matching core runs over the slices, one compare-and-set
script commits the states, watermarks and the alerts into the outbox, the alerts go to a sink
that counts them (no broker) and the outbox is cleared. Baseline: the same rules and states,
read from Redis once (``RedisRuleStore.snapshot``), kept in memory, every rule of the symbol
stepped on every tick by the same core function (``Book.apply``), encoding the same alert
records; no Redis at all, so the baseline is favoured. Both start from the same state after a
warm-up, run interleaved (so both see the same machine), and must produce exactly the same
alerts (checked).

Also: the cost per tick at 10k, 100k and 1M rules (10k rules near the price, the rest 30-90 %
away: the same work per tick, only the index grows), and the tick-to-alert latency through real
Kafka (``build_app``) at 1,000 ticks/s for ~10 s with 100k rules.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from benchmarks._stack import bench_settings, result_line, wait_assigned
from consumers.rule_engine import (
    SOURCE,
    Book,
    OutgoingAlert,
    RedisRuleStore,
    RuleChange,
    RuleEngine,
    TickPoint,
    TickRecord,
    encode_alert,
    rfc3339,
)
from consumers.rule_engine.app import (
    GROUP_TICKS,
    TICK_BATCH,
    build_app,
    key_prefix,
    state_epoch,
)
from infra.kafka import EventPublisher, ensure_topics, make_broker
from infra.runtime import tune_gc
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    MARKET_TICKS,
    AlertRuleCreatedV1,
    AnyEvent,
    CloudEvent,
    MarketTickV1,
    codec_for,
    utc_now,
)

SYMBOLS = 50
LOAD_CHUNK = 5000
HOT_RULES = 10_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = (
    ("above", 0.30),
    ("below", 0.30),
    ("crosses_above", 0.125),
    ("crosses_below", 0.125),
    ("pct_change", 0.15),
)
WINDOWS = (60, 300, 900, 3600)


def symbol_names(n: int) -> list[str]:
    return [f"S{i:02d}USDT" for i in range(n)]


def base_price(i: int) -> Decimal:
    """Each symbol its own magnitude: 0.5 .. 50,000."""
    return Decimal(5) * Decimal(10) ** (i % 6 - 1) * (1 + Decimal(i % 7) / 10)


def make_rules(
    n: int, symbols: Sequence[str], *, seed: int, hot: int | None = None
) -> Iterator[AlertRuleCreatedV1]:
    """``n`` rules over ``symbols``: thresholds within 5 % of the base price (pct_change: 0.2 to
    3 %); past the first ``hot`` rules (if set), dormant ones 30 to 90 % away (``above`` above
    the price, ``below`` below it: dormant rules do not fire)."""
    rng = random.Random(seed)
    kinds = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    for i in range(n):
        s = rng.randrange(len(symbols))
        kind = rng.choices(kinds, weights)[0]
        sign = 1 if rng.random() < 0.5 else -1
        dormant = hot is not None and i >= hot
        condition: dict[str, Any] = {"kind": kind}
        if kind == "pct_change":
            pct = rng.uniform(30, 90) if dormant else rng.uniform(0.2, 3.0)
            condition["threshold"] = f"{sign * pct:.2f}"
            condition["window_s"] = rng.choice(WINDOWS)
        else:
            if not dormant:
                off = rng.uniform(-0.05, 0.05)
            elif kind in ("above", "below"):  # on the side where the condition is false
                off = (1 if kind == "above" else -1) * rng.uniform(0.3, 0.9)
            else:
                off = sign * rng.uniform(0.3, 0.9)
            price = base_price(s) * Decimal(1 + off)
            condition["threshold"] = str(price.quantize(base_price(s) / 100_000))
        yield AlertRuleCreatedV1.model_validate(
            {
                "rule_id": f"rule-{i}",
                "user_id": f"user-{i % 5000}",
                "symbol": symbols[s],
                "condition": condition,
                "repeat": rng.random() < 0.8,
                "cooldown_s": rng.choice((0, 0, 0, 60, 300)),
            }
        )


async def load_rules(store: RedisRuleStore, rules: Iterator[AlertRuleCreatedV1]) -> float:
    """Apply every rule event through the engine's rule path, pipelined; returns rules/s."""
    started = time.perf_counter()
    offset = 0
    chunk: list[RuleChange] = []
    for rule in rules:
        chunk.append(RuleChange(rule, 0, offset))
        offset += 1
        if len(chunk) >= LOAD_CHUNK:
            await store.apply(chunk)
            chunk = []
    if chunk:
        await store.apply(chunk)
    return offset / (time.perf_counter() - started)


@dataclass
class Walk:
    """Random walks of every symbol, ticking round-robin, 200 ms apart per symbol."""

    symbols: list[str]
    seed: int
    step_pct: float = 0.0003

    def ticks(self, n: int, *, start: int = 0) -> list[TickRecord]:
        rng = random.Random(self.seed + start)
        prices = {s: base_price(i) for i, s in enumerate(self.symbols)}
        scale = {s: base_price(i) / 100_000 for i, s in enumerate(self.symbols)}
        out = []
        for j in range(start, start + n):
            i = j % len(self.symbols)
            s = self.symbols[i]
            drift = float(base_price(i) / prices[s] - 1) * 0.01  # stay near the base price
            move = rng.gauss(drift, self.step_pct)
            prices[s] = (prices[s] * Decimal(1 + move)).quantize(scale[s])
            data = MarketTickV1(
                symbol=s,
                price=prices[s],
                venue="bench",
                ts=T0 + timedelta(milliseconds=200 * (j // len(self.symbols))),
            )
            event: AnyEvent = CloudEvent.new(data, source="/benchmarks/rules")
            out.append(TickRecord(event, "bench.ticks", i % 6, j))
        return out


class CountingSink:
    """Counts alerts (no broker); with ``keep``, keeps the records to check them afterwards."""

    def __init__(self) -> None:
        self.count = 0
        self.kept: list[OutgoingAlert] = []
        self.keep = False

    async def publish(self, alerts: Sequence[OutgoingAlert]) -> None:
        self.count += len(alerts)
        if self.keep:
            self.kept.extend(alerts)

    def pairs(self) -> list[tuple[str, str]]:
        """(tick id, match id) of every kept alert."""
        out = []
        for alert in self.kept:
            data = orjson.loads(alert.raw)["data"]
            out.append((data["tick_id"], data["match_id"]))
        return out


async def run_ours(engine: RuleEngine, ticks: Sequence[TickRecord]) -> tuple[float, int]:
    """Feed ``ticks`` in consumer-sized batches; returns (seconds, alerts)."""
    alerts = 0
    started = time.perf_counter()
    for i in range(0, len(ticks), TICK_BATCH):
        outcome = await engine.on_ticks(ticks[i : i + TICK_BATCH])
        alerts += outcome.alerts
    return time.perf_counter() - started, alerts


def run_naive(books: dict[str, Book], ticks: Sequence[TickRecord]) -> tuple[float, set[str]]:
    """Every rule of the symbol, every tick, in memory, encoding the same alert records as the
    engine; returns (seconds, match ids)."""
    ids: set[str] = set()
    started = time.perf_counter()
    now = rfc3339(utc_now())
    for item in ticks:
        tick = TickPoint.of(item)
        for match in books[tick.symbol].apply(tick):
            ids.add(encode_alert(match, source=SOURCE, cause=item.event, now=now).match_id)
    return time.perf_counter() - started, ids


async def headline(
    redis: Redis, prefix: str, n_rules: int, n_ticks: int, n_naive: int
) -> tuple[float, float]:
    """Ours vs naive at ``n_rules``; returns (ours ticks/s, naive ticks/s)."""
    store = RedisRuleStore(redis, prefix)
    symbols = symbol_names(SYMBOLS)
    rate = await load_rules(store, make_rules(n_rules, symbols, seed=1))
    print(f"loaded {n_rules:,} rules over {SYMBOLS} symbols at {rate:,.0f} rules/s")
    walk = Walk(symbols, seed=2)
    warm = walk.ticks(5000)
    sink = CountingSink()
    engine = RuleEngine(store, sink)
    await run_ours(engine, warm)  # the first ticks fire every rule already met
    books = {s: await store.snapshot(s) for s in symbols}
    ticks = walk.ticks(n_ticks, start=len(warm))
    sink.keep = True
    ours_s = naive_s = 0.0
    alerts = 0
    naive_ids: set[str] = set()
    rounds = 10
    for r in range(rounds):  # interleaved, so both see the same machine
        seconds, found = await run_ours(engine, _part(ticks, r, rounds))
        ours_s += seconds
        alerts += found
        seconds, ids = run_naive(books, _part(ticks[:n_naive], r, rounds))
        naive_s += seconds
        naive_ids |= ids
    ours = n_ticks / ours_s
    naive = min(n_naive, n_ticks) / naive_s
    print(
        f"ours   {ours:10,.0f} ticks/s  {alerts / ours_s:10,.0f} alerts/s  "
        f"({alerts / n_ticks:.2f} alerts/tick, {1e6 / ours:.1f} us/tick; {n_ticks:,} ticks)"
    )
    print(
        f"naive  {naive:10,.0f} ticks/s  {len(naive_ids) / naive_s:10,.0f} alerts/s  "
        f"({len(naive_ids) / min(n_naive, n_ticks):.2f} alerts/tick, "
        f"{1e6 / naive:.1f} us/tick; the first {min(n_naive, n_ticks):,} ticks)"
    )
    first = {t.event.id for t in ticks[:n_naive]}
    mine = [mid for tid, mid in sink.pairs() if tid in first]
    same = len(mine) == len(set(mine)) and set(mine) == naive_ids
    print(f"same alerts as the naive evaluator on those ticks: {'yes' if same else 'NO'}")
    print(f"ratio at {n_rules:,} rules: {ours / naive:.1f}x")
    await store.clear()
    return ours, naive


def _part(items: Sequence[TickRecord], r: int, rounds: int) -> Sequence[TickRecord]:
    size = -(-len(items) // rounds)
    return items[r * size : (r + 1) * size]


async def scaling(redis: Redis, prefix: str, scales: Sequence[int], n_ticks: int) -> None:
    """Cost per tick as the index grows while the work per tick stays the same: every scale is
    loaded and warmed up first, then they run in alternation, so each sees the same machine."""
    symbols = symbol_names(SYMBOLS)
    engines = []
    stores: list[RedisRuleStore] = []
    for n in scales:
        store = RedisRuleStore(redis, f"{prefix}scale{n}:")
        stores.append(store)
        started = time.perf_counter()
        rate = await load_rules(store, make_rules(n, symbols, seed=3, hot=min(HOT_RULES, n)))
        print(
            f"{n:>9,} rules loaded in {time.perf_counter() - started:.1f} s ({rate:,.0f} rules/s)"
        )
        engine = RuleEngine(store, CountingSink())
        await run_ours(engine, Walk(symbols, seed=4).ticks(3000))
        engines.append(engine)
    ticks = Walk(symbols, seed=4).ticks(n_ticks, start=3000)
    seconds = [0.0] * len(scales)
    alerts = [0] * len(scales)
    rounds = 5
    for r in range(rounds):
        for i, engine in enumerate(engines):
            took, found = await run_ours(engine, _part(ticks, r, rounds))
            seconds[i] += took
            alerts[i] += found
    for i, n in enumerate(scales):
        print(
            f"{n:>9,} rules: {1e6 * seconds[i] / n_ticks:6.1f} us/tick  "
            f"{n_ticks / seconds[i]:8,.0f} ticks/s  {alerts[i] / n_ticks:.2f} alerts/tick"
        )
    for store in stores:
        await store.clear()


class AlertClock:
    """Reads ``ixo.alerts.matches`` from its end and times each alert against its tick's send."""

    def __init__(self, settings: Settings) -> None:
        self.topic = ALERT_MATCHES.full_name(settings.topic_prefix)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_servers, enable_auto_commit=False
        )
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        tps = [TopicPartition(self.topic, p) for p in range(ALERT_MATCHES.partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        decode = codec_for(ALERT_MATCHES).decode
        while not self._stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batch.values():
                for rec in records:
                    cause = decode(rec.value or b"").causationid
                    if cause in self.sent:
                        self.latencies.append(now - self.sent[cause])

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await self.consumer.stop()


async def feed(
    publisher: EventPublisher, clock: AlertClock | None, ticks: Sequence[TickRecord], rate: int
) -> None:
    """Publish ticks at ``rate`` per second, stamped with the current time."""
    started = time.perf_counter()
    for i, item in enumerate(ticks):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        data = item.event.data.model_copy(update={"ts": utc_now()})
        event = CloudEvent.new(data, source="/benchmarks/rules")
        if clock is not None:
            clock.sent[event.id] = time.perf_counter()
        await publisher.send(event)


async def caught_up(settings: Settings) -> None:
    """Wait until the engine's tick group has committed every tick on the topic."""
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.group(GROUP_TICKS),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(MARKET_TICKS.partitions)]
        while True:
            end = await consumer.end_offsets(tps)
            done = [(await consumer.committed(tp) or 0) >= end[tp] for tp in tps]
            if all(done):
                return
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


async def latency(settings: Settings, redis: Redis, rate: int, seconds: float) -> None:
    """Tick-to-alert latency through Kafka and the engine app, with 100k rules loaded."""
    await ensure_topics(
        settings, [MARKET_TICKS, MARKET_TICKS.dlq, ALERT_RULES, ALERT_RULES.dlq, ALERT_MATCHES]
    )
    store = RedisRuleStore(redis, key_prefix(settings))
    # Loaded straight into Redis, as the engine's state (its marker written once loaded: else
    # the engine would rebuild its state from the, empty, rules topic at its first batch).
    await state_epoch(settings, redis).ensure(
        lambda: load_rules(store, make_rules(100_000, symbol_names(SYMBOLS), seed=5))
    )
    app = build_app(settings)
    producer = make_broker(settings, client_id="bench-ticks")
    clock = AlertClock(settings)
    await app.start()
    await producer.start()
    try:
        await wait_assigned(app)
        publisher = EventPublisher(producer, settings)
        walk = Walk(symbol_names(SYMBOLS), seed=6)
        # Warm up (untimed): the first ticks fire every rule whose condition already holds.
        await feed(publisher, None, walk.ticks(5000), rate * 20)
        await asyncio.wait_for(caught_up(settings), timeout=120)
        await clock.start()
        await feed(publisher, clock, walk.ticks(int(rate * seconds), start=5000), rate)
        await asyncio.sleep(2.0)  # the last alerts
    finally:
        await clock.stop()
        await producer.stop()
        await app.stop()
        await store.clear()
    lat = sorted(clock.latencies)
    if not lat:
        print("latency: no alerts received")
        return
    p50 = lat[len(lat) // 2] * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    print(
        f"tick-to-alert through Kafka at {rate:,} ticks/s for {seconds:.0f} s: "
        f"{len(lat):,} alerts, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"mean {statistics.fmean(lat) * 1000:.1f} ms"
    )


async def main(args: argparse.Namespace) -> None:
    tune_gc()  # as every service does at start (infra.runtime); it applies to both paths
    with bench_settings("rules") as settings:
        redis = Redis.from_url(settings.redis_url)
        try:
            prefix = f"{settings.topic_prefix}bench:"
            ours, naive = await headline(redis, prefix, args.rules, args.ticks, args.naive_ticks)
            # Latency before the 1M-rule load (its append-only-file rewrite would skew it).
            if args.latency_s > 0:
                await latency(settings, redis, args.rate, args.latency_s)
            if args.scales:
                await scaling(redis, prefix, [int(s) for s in args.scales.split(",")], 10_000)
        finally:
            await redis.aclose()
        print(result_line("rules", ours, naive, "ticks/s"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=20_000)
    parser.add_argument("--naive-ticks", type=int, default=2_000)
    parser.add_argument("--scales", default="10000,100000,1000000")
    parser.add_argument("--latency-s", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
