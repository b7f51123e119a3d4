"""Tick -> alert latency hop by hop (a waterfall), through real Kafka and Redis, with the rule
engine's FastStream app in this process and 100k rules loaded.

    python -m benchmarks.latency [--rate 1000] [--seconds 10] [--rules 100000]

Ticks are published at ``--rate`` per second (each stamped now) by a load process of its own,
which also follows the alerts topic (the feed and the readers are other processes in
production; sharing the engine's event loop with them measured their work as the engine's).
Timestamps, all from the system's monotonic clock (``time.perf_counter`` on Linux, the same in
both processes):

- ``send``: the tick is handed to the producer; ``acked``: the broker acknowledged it;
- ``batch``: the engine's consumer has the batch holding it (``EventConsumer.process`` starts:
  fetched, not yet decoded); ``handler``: decoded, the rule engine starts (``on_ticks``);
- ``loaded``: the first Redis load of its symbols returned; ``committed``: its symbols' states,
  watermarks and alerts are committed to Redis (the outbox); ``published``: the batch's alerts
  are acknowledged by the broker; ``seen``: a reader following the alerts topic has the alert.

Hops: producer (send -> acked: linger, the broker's append), wait for the consumer (acked ->
batch: the fetch, and the batch before it still running), decode (batch -> handler), Redis load
(handler -> loaded), match + Redis commit (loaded -> committed), publish (committed ->
published), to the reader (published -> seen). The p50 and p99 of each hop over every alert
are printed, and the end-to-end p50/p99 (send -> seen).

The final line compares our end to end p50 with a baseline: raw aiokafka moving the same tick
bytes to a consumer and the same number of alert-sized records back (consume, produce acks=all,
read back), at the same rate, with no Redis: the floor that Kafka and the client set here;
the relay runs in this process, its feed and reader in the load process, as for ours.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis

from benchmarks._stack import bench_settings, result_line, settle_redis, wait_assigned
from benchmarks.rules import SYMBOLS, Walk, load_rules, make_rules, symbol_names
from consumers.rule_engine import RedisRuleStore, RuleEngine
from consumers.rule_engine.app import KafkaAlertSink, build_app, key_prefix, state_epoch
from infra.kafka import EventConsumer, EventPublisher, ensure_topics, make_broker
from infra.runtime import tune_gc
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    MARKET_TICKS,
    CloudEvent,
    codec_for,
    encode,
    utc_now,
)

HOPS = (
    ("producer", "send", "acked"),
    ("consumer wait", "acked", "batch"),
    ("decode", "batch", "handler"),
    ("redis load", "handler", "loaded"),
    ("match + redis commit", "loaded", "committed"),
    ("publish alerts", "committed", "published"),
    ("to the reader", "published", "seen"),
)


@dataclass
class Clock:
    """Per tick event id: the moments it passed each step."""

    at: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    alert_cause: dict[str, str] = field(default_factory=dict)

    def mark(self, ids: Sequence[str], step: str) -> None:
        now = time.perf_counter()
        for i in ids:
            self.at[i].setdefault(step, now)


def instrument(clock: Clock) -> Callable[[], None]:
    """Wrap the engine's steps with timestamps; returns the undo."""
    originals: list[tuple[type, str, Any]] = []

    def wrap(cls: type, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(cls, name)
        originals.append((cls, name, original))
        setattr(cls, name, make(original))

    def process(original: Any) -> Any:
        async def timed(self: Any, records: Sequence[Any]) -> None:
            now = time.perf_counter()
            for r in records:
                cause = _id_of(r.value)
                if cause:
                    clock.at[cause].setdefault("batch", now)
            await original(self, records)

        return timed

    def on_ticks(original: Any) -> Any:
        async def timed(self: Any, batch: Sequence[Any]) -> Any:
            ids = [item.event.id for item in batch]
            clock.mark(ids, "handler")
            current.extend(ids)
            try:
                return await original(self, batch)
            finally:
                current.clear()

        return timed

    current: list[str] = []

    def step(name: str) -> Callable[[Any], Any]:
        def make(original: Any) -> Any:
            async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
                result = await original(self, *args, **kwargs)
                clock.mark(current, name)
                return result

            return timed

        return make

    wrap(EventConsumer, "process", process)
    wrap(RuleEngine, "on_ticks", on_ticks)
    wrap(RedisRuleStore, "load", step("loaded"))
    wrap(RedisRuleStore, "commit", step("committed"))
    wrap(KafkaAlertSink, "publish", step("published"))

    def undo() -> None:
        for cls, name, original in originals:
            setattr(cls, name, original)

    return undo


def _id_of(value: bytes | None) -> str:
    """The CloudEvent id of a tick record without decoding all of it (timing only)."""
    if not value:
        return ""
    start = value.find(b'"id":"')
    if start < 0:
        return ""
    start += 6
    return value[start : value.find(b'"', start)].decode()


@dataclass
class Load:
    """The load process's view of the ticks: send, acked and seen times per tick id (or key)."""

    marks: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))

    def stamp(self, key: str, step: str) -> None:
        self.marks[key].setdefault(step, time.perf_counter())


@contextlib.asynccontextmanager
async def following(
    settings: Settings,
    topic: str,
    *,
    partitions: int,
    cause_of: Callable[[Any], str],
    load: Load,
) -> AsyncIterator[None]:
    """Follow ``topic`` from its end (positioned before the block runs), stamping ``seen`` on
    the tick each record answers, until the block ends."""
    stop, ready = asyncio.Event(), asyncio.Event()
    reader = asyncio.create_task(_follow(settings, topic, partitions, cause_of, load, stop, ready))
    try:
        await asyncio.wait(
            {asyncio.ensure_future(ready.wait()), reader}, return_when=asyncio.FIRST_COMPLETED
        )
        if reader.done():
            reader.result()  # it failed before it was positioned
        yield
    finally:
        stop.set()
        await reader


async def _follow(  # noqa: PLR0917 - the context manager's parts
    settings: Settings,
    topic: str,
    partitions: int,
    cause_of: Callable[[Any], str],
    load: Load,
    stop: asyncio.Event,
    ready: asyncio.Event,
) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20)
            now = time.perf_counter()
            for records in batch.values():
                for rec in records:
                    cause = cause_of(rec)
                    if cause in load.marks:
                        load.marks[cause].setdefault("seen", now)
    finally:
        await consumer.stop()


async def paced(n: int, rate: int) -> AsyncIterator[int]:
    """0 .. n-1 at ``rate`` per second."""
    started = time.perf_counter()
    for i in range(n):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i


async def load_ours(settings: Settings, rate: int, seconds: float) -> Load:
    """The market feed's side and a downstream reader: ticks published as the feed does
    (``EventPublisher``, stamped now), the alerts topic followed."""
    load, warm = Load(), Load()
    decode = codec_for(ALERT_MATCHES).decode
    producer = make_broker(settings, client_id="bench-latency-feed")
    await producer.start()
    publisher = EventPublisher(producer, settings)
    walk = Walk(symbol_names(SYMBOLS), seed=6)

    async def feed(into: Load, n: int, per_s: int, start: int) -> None:
        pending: list[asyncio.Future[Any]] = []
        ticks = walk.ticks(n, start=start)
        async for i in paced(n, per_s):
            data = ticks[i].event.data.model_copy(update={"ts": utc_now()})
            event = CloudEvent.new(data, source="/benchmarks/latency")
            into.stamp(event.id, "send")
            future = await publisher.send(event)
            future.add_done_callback(partial(_stamp_ack, into, event.id))
            pending.append(future)
        await asyncio.gather(*pending)

    try:
        async with following(
            settings,
            ALERT_MATCHES.full_name(settings.topic_prefix),
            partitions=ALERT_MATCHES.partitions,
            cause_of=lambda rec: decode(rec.value or b"").causationid or "",
            load=load,
        ):
            # every rule whose condition holds fires now (the walk then goes on from there)
            await feed(warm, 5000, rate * 5, 0)
            await asyncio.sleep(3)
            await feed(load, int(rate * seconds), rate, 5000)
            await asyncio.sleep(2)
    finally:
        await producer.stop()
    return load


async def load_raw(settings: Settings, rate: int, seconds: float) -> Load:
    """The baseline's side: the same tick bytes published with raw aiokafka (key = a counter),
    the relay's output followed."""
    load = Load()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_servers, linger_ms=settings.kafka_linger_ms
    )
    await producer.start()
    try:
        async with following(
            settings,
            f"{settings.topic_prefix}raw.alerts",
            partitions=3,
            cause_of=lambda rec: (rec.key or b"").decode(),
            load=load,
        ):
            ticks = Walk(symbol_names(SYMBOLS), seed=6).ticks(int(rate * seconds), start=10_000)
            topic = f"{settings.topic_prefix}raw.ticks"
            pending: list[asyncio.Future[Any]] = []
            async for i in paced(len(ticks), rate):
                key = str(i)
                load.stamp(key, "send")
                future = await producer.send(topic, value=encode(ticks[i].event), key=key.encode())
                future.add_done_callback(partial(_stamp_ack, load, key))
                pending.append(future)
            await asyncio.gather(*pending)
            await asyncio.sleep(2)
    finally:
        await producer.stop()
    return load


def _stamp_ack(load: Load, key: str, _: asyncio.Future[Any]) -> None:
    load.marks[key].setdefault("acked", time.perf_counter())


async def run_load(settings: Settings, mode: str, rate: int, seconds: float) -> Load:
    """Run the load in a process of its own (as the feed and the readers are in production):
    the engine's event loop is not shared with them. ``time.perf_counter`` is the system's
    monotonic clock on Linux, so the two processes' stamps compare."""
    env = {
        **os.environ,
        "IXO_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "IXO_TOPIC_PREFIX": settings.topic_prefix,
        "IXO_KAFKA_LINGER_MS": str(settings.kafka_linger_ms),
    }
    args = ["--load", mode, "--rate", str(rate), "--seconds", str(seconds)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.latency", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        msg = f"the load process failed (exit {proc.returncode})"
        raise RuntimeError(msg)
    return Load(json.loads(out))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def ours(settings: Settings, redis: Redis, rate: int, seconds: float, rules: int) -> float:
    await ensure_topics(
        settings, [MARKET_TICKS, MARKET_TICKS.dlq, ALERT_RULES, ALERT_RULES.dlq, ALERT_MATCHES]
    )
    store = RedisRuleStore(redis, key_prefix(settings))
    # Loaded straight into Redis, as the engine's state (its marker written once loaded: else
    # the engine would rebuild its state from the, empty, rules topic at its first batch).
    await state_epoch(settings, redis).ensure(
        lambda: load_rules(store, make_rules(rules, symbol_names(SYMBOLS), seed=5))
    )
    await settle_redis(redis)
    app = build_app(settings)
    clock = Clock()
    await app.start()
    undo = instrument(clock)
    try:
        await wait_assigned(app)
        load = await run_load(settings, "ours", rate, seconds)
    finally:
        undo()
        await app.stop()
        await store.clear()
    for key, marks in load.marks.items():
        clock.at[key].update(marks)
    alerted = [steps for steps in clock.at.values() if "seen" in steps and "send" in steps]
    if not alerted:
        steps: dict[str, int] = defaultdict(int)
        for marks in clock.at.values():
            for name in marks:
                steps[name] += 1
        print(f"no alerts seen (steps reached: {dict(steps)})")
        return 0.0
    sent = sum(1 for steps in clock.at.values() if "send" in steps)
    print(f"{len(alerted):,} ticks alerted of {sent:,} sent at {rate:,} ticks/s")
    print(f"{'hop':<22}{'p50 ms':>9}{'p99 ms':>9}")
    for name, a, b in HOPS:
        spans = [s[b] - s[a] for s in alerted if a in s and b in s]
        if spans:
            print(f"{name:<22}{pct(spans, 0.5):9.1f}{pct(spans, 0.99):9.1f}")
    total = [s["seen"] - s["send"] for s in alerted]
    p99 = pct(total, 0.99)
    slowest = sorted(alerted, key=lambda s: s["seen"] - s["send"])[-max(1, len(alerted) // 100) :]
    means = [(name, [s[b] - s[a] for s in slowest if a in s and b in s]) for name, a, b in HOPS]
    print(
        "slowest 1%, mean ms per hop: "
        + ", ".join(f"{name} {statistics.fmean(v) * 1000:.1f}" for name, v in means if v)
    )
    print(
        f"{'end to end':<22}{pct(total, 0.5):9.1f}{p99:9.1f}"
        f"   (mean {statistics.fmean(total) * 1000:.1f} ms; aim p99 <= 50 ms: "
        f"{'met' if p99 <= 50 else 'NOT met'})"
    )
    return pct(total, 0.5)


async def baseline(settings: Settings, rate: int, seconds: float) -> float:
    """Raw aiokafka: tick bytes in, one alert-sized record out per tick (acks=all), read back;
    the relay here, the feed and the reader in the load process."""
    ticks_topic = f"{settings.topic_prefix}raw.ticks"
    out_topic = f"{settings.topic_prefix}raw.alerts"
    await _create_topics(settings, {ticks_topic: 6, out_topic: 3})
    relay_out = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, linger_ms=0, acks="all")
    source = AIOKafkaConsumer(
        ticks_topic,
        bootstrap_servers=settings.kafka_servers,
        group_id=f"{settings.topic_prefix}raw",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    stop = asyncio.Event()
    for client in (relay_out, source):
        await client.start()

    async def relay() -> None:
        while not stop.is_set():
            batch = await source.getmany(timeout_ms=20, max_records=1000)
            futures = [
                await relay_out.send(out_topic, value=r.value, key=r.key)
                for records in batch.values()
                for r in records
            ]
            if futures:
                await asyncio.gather(*futures)
                await source.commit()

    task = asyncio.create_task(relay())
    try:
        await _assigned(source)
        load = await run_load(settings, "raw", rate, seconds)
    finally:
        stop.set()
        await task
        for client in (relay_out, source):
            await client.stop()
    spans = [m["seen"] - m["send"] for m in load.marks.values() if "seen" in m and "send" in m]
    print(
        f"raw aiokafka relay: {len(spans):,} of {len(load.marks):,} back, "
        f"p50 {pct(spans, 0.5):.1f} ms, p99 {pct(spans, 0.99):.1f} ms"
    )
    return pct(spans, 0.5)


async def _create_topics(settings: Settings, partitions: dict[str, int]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in partitions.items()])
    finally:
        await admin.close()


async def _assigned(consumer: AIOKafkaConsumer) -> None:
    for _ in range(600):
        if consumer.assignment():
            await asyncio.sleep(1)  # the fetcher has its positions
            return
        await asyncio.sleep(0.1)
    msg = "the raw consumer never got its partitions"
    raise RuntimeError(msg)


async def main(args: argparse.Namespace) -> None:
    tune_gc()
    if args.load:
        settings = Settings()
        run = load_ours if args.load == "ours" else load_raw
        load = await run(settings, args.rate, args.seconds)
        sys.stdout.write(json.dumps(load.marks))  # to the benchmark's process
        print(f"load process ({args.load}): {time.process_time():.1f} s of CPU", file=sys.stderr)
        return
    with bench_settings("latency") as settings:
        redis = Redis.from_url(settings.redis_url)
        try:
            p50 = await ours(settings, redis, args.rate, args.seconds, args.rules)
        finally:
            await redis.aclose()
        raw = await baseline(settings, args.rate, args.seconds)
        print(result_line("latency", p50, raw, "ms_p50"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--load", choices=("ours", "raw"), help=argparse.SUPPRESS)
    asyncio.run(main(parser.parse_args()))
