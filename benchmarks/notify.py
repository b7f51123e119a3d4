"""Webhook deliveries through the notifier, against raw httpx posting the same bodies.

    python -m benchmarks.notify [--alerts N] [--users N] [--concurrency N] [--ticks N]

Both post to the same receiver: a separate uvicorn process on loopback that checks every
``X-Ixo-Signature`` (HMAC-SHA256) and counts requests and distinct event ids.

Ours: the notifier app (``consumers.notifier.app.build_app``) with one webhook subscription per
user; N ``ixo.alert.triggered.v1`` events (spread over ``--users`` users, so over every
partition) are published at once, and the clock runs from the publish until the receiver has N
distinct deliveries. Each delivery is the whole path: Kafka batch consume, subscription lookup
in Redis, the Redis ledger (claim, attempt, settle, finish: dedup), the Redis rate limiter,
signing, the POST, and the ``ixo.notification.delivered.v1`` outcome published with acks=all.
Baseline: one ``httpx.AsyncClient`` with the same connection limit POSTing the same N bodies
(signatures computed beforehand) with ``--concurrency`` requests in flight: no Kafka, no Redis,
no signing. Deliveries are checked: N distinct event ids, every signature valid, N outcomes.

Also, when the rule engine is importable: the end-to-end latency from a tick published on
``ixo.market.ticks`` to the webhook received (rule engine + notifier, p50/p99).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from faststream import FastStream
from faststream.kafka import KafkaBroker
from pydantic import SecretStr

from benchmarks._receiver import receiver_process, receiver_stats
from benchmarks._stack import bench_settings, result_line
from consumers.notifier import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    NotifierConfig,
    RedisDirectory,
    sign,
)
from consumers.notifier.app import build_app, key_prefix, redis_client
from infra.kafka import EventPublisher, ensure_topics, make_broker
from infra.runtime import tune_gc
from infra.secrets import SecretBox, new_key
from infra.settings import Settings
from schemas import (
    NOTIFY_DELIVERIES,
    AlertRuleCreatedV1,
    AlertTriggeredV1,
    AnyEvent,
    Channel,
    CloudEvent,
    Condition,
    MarketTickV1,
    SubscriptionCreatedV1,
    encode,
)

SECRET = "ixosec_benchmark_secret_0123456789"  # noqa: S105 - a benchmark's own
KEY = new_key()
BOX = SecretBox([KEY])
ALERT_TYPE = "ixo.alert.triggered.v1"


async def wait_count(client: httpx.AsyncClient, base: str, n: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while True:
        if (await receiver_stats(client, base))["unique"] >= n:
            return time.perf_counter()
        if time.monotonic() > deadline:
            msg = f"receiver got fewer than {n} deliveries in {timeout}s"
            raise RuntimeError(msg)
        await asyncio.sleep(0.02)


# -- events -----------------------------------------------------------------------------------


def subscription(user: str, url: str) -> AnyEvent:
    data = SubscriptionCreatedV1.model_validate(
        {
            "subscription_id": f"sub-{user}",
            "owner": user,
            "url": url,
            "secret_enc": BOX.encrypt(SECRET),
            "event_types": [ALERT_TYPE],
        }
    )
    return CloudEvent.new(data, source="/benchmarks/notify")


def rule(user: str, channels: tuple[Channel, ...] = (), **changes: Any) -> AnyEvent:
    fields: dict[str, Any] = {
        "rule_id": f"rule-{user}",
        "user_id": user,
        "symbol": "BTCUSDT",
        "condition": Condition(kind="above", threshold=Decimal(70000)),
        "channels": channels,
        **changes,
    }
    return CloudEvent.new(AlertRuleCreatedV1.model_validate(fields), source="/benchmarks/notify")


def alerts(n: int, users: int) -> list[AnyEvent]:
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        user = f"u{i % users:03d}"
        data = AlertTriggeredV1(
            match_id=f"m-{uuid.uuid4().hex}",
            rule_id=f"rule-{user}",
            user_id=user,
            symbol="BTCUSDT",
            price=Decimal("70100.5"),
            condition=Condition(kind="above", threshold=Decimal(70000)),
            tick_id=f"t-{i}",
            triggered_at=now,
        )
        out.append(CloudEvent.new(data, source="/benchmarks/notify"))
    return out


@contextlib.asynccontextmanager
async def running(app: FastStream) -> AsyncIterator[None]:
    await app.start()
    try:
        broker = app.broker
        assert isinstance(broker, KafkaBroker)
        subs: list[Any] = list(broker.subscribers)

        async def assigned() -> bool:
            return all(s.consumer is not None and s.consumer.assignment() for s in subs)

        await until(assigned, 60, "consumers not assigned")
        yield
    finally:
        await app.stop()


async def until(probe: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await probe():
            return
        if time.monotonic() > deadline:
            msg = f"{what} within {timeout}s"
            raise RuntimeError(msg)
        await asyncio.sleep(0.05)


async def outcomes_on_kafka(settings: Settings) -> int:
    from infra.kafka import describe_topics

    for info in await describe_topics(settings):
        if info.name == NOTIFY_DELIVERIES.full_name(settings.topic_prefix):
            return int(info.messages)
    return 0


# -- runs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    settings: Settings
    publisher: EventPublisher
    http: httpx.AsyncClient
    base: str


async def run_ours(bench: Bench, events: list[AnyEvent], users: int) -> float:
    settings, publisher, http, base = bench.settings, bench.publisher, bench.http, bench.base
    directory = RedisDirectory(redis_client(settings), key_prefix(settings))

    async def known() -> bool:
        subs = await directory.subscriptions_for({ALERT_TYPE})
        rules = [await directory.rule(f"rule-u{i:03d}") for i in range(users)]
        return len(subs) >= users and all(r is not None for r in rules)

    await until(known, 60, "the notifier did not learn the subscriptions and rules")
    warm, timed = events[:200], events[200:]
    await publisher.publish_many(warm)
    await wait_count(http, base, len(warm), 60)
    await http.post(base + "/reset")
    started = time.perf_counter()
    await publisher.publish_many(timed)
    ended = await wait_count(http, base, len(timed), 300)
    got = await receiver_stats(http, base)
    if got["unique"] != len(timed) or got["count"] != len(timed) or got["invalid"]:
        msg = f"ours: bad deliveries {got['count']=} {got['unique']=} {got['invalid']=}"
        raise RuntimeError(msg)

    async def all_outcomes() -> bool:
        return await outcomes_on_kafka(settings) >= len(events)

    await until(all_outcomes, 60, "ours: outcome events missing")
    return len(timed) / (ended - started)


async def run_baseline(base: str, events: list[AnyEvent], concurrency: int) -> float:
    url = base + "/hook"
    now = int(time.time())
    bodies = [encode(e) for e in events]
    requests = [
        (
            body,
            {
                "content-type": "application/cloudevents+json; charset=utf-8",
                EVENT_ID_HEADER: e.id,
                SIGNATURE_HEADER: sign(SECRET, body, now),
            },
        )
        for e, body in zip(events, bodies, strict=True)
    ]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await client.post(base + "/reset")
        gate = asyncio.Semaphore(concurrency)

        async def post(body: bytes, headers: dict[str, str]) -> None:
            async with gate:
                (await client.post(url, content=body, headers=headers)).raise_for_status()

        warm = requests[:200]
        await asyncio.gather(*(post(b, h) for b, h in warm))
        await client.post(base + "/reset")
        timed = requests[200:]
        started = time.perf_counter()
        await asyncio.gather(*(post(b, h) for b, h in timed))
        elapsed = time.perf_counter() - started
        got = (await client.get(base + "/stats")).json()
        if got["unique"] != len(timed) or got["invalid"]:
            msg = f"baseline: bad deliveries {got}"
            raise RuntimeError(msg)
    return len(timed) / elapsed


async def run_latency(bench: Bench, ticks: int) -> tuple[float, float] | None:
    settings, publisher, http, base = bench.settings, bench.publisher, bench.http, bench.base
    from consumers.rule_engine.app import build_app as rule_engine_app

    user = "lat"
    hook = Channel(kind="webhook", target=base + "/latency")
    await publisher.publish(subscription(user, base + "/latency"))
    await publisher.publish(
        rule(
            user,
            (hook,),
            condition=Condition(kind="above", threshold=Decimal(150)),
            repeat=True,
            cooldown_s=0,
        )
    )
    engine = rule_engine_app(settings)
    t0 = datetime.now(UTC)
    async with running(engine):
        await http.post(base + "/reset")
        sent: dict[str, float] = {}
        for i in range(ticks + 20):
            for j, price in enumerate((100, 200)):
                tick_id = f"lat-{i}" if price == 200 else f"low-{i}"
                event = CloudEvent.new(
                    MarketTickV1(
                        symbol="BTCUSDT",
                        price=Decimal(price),
                        venue="bench",
                        ts=t0 + timedelta(milliseconds=2 * i + j),
                    ),
                    source="/benchmarks/notify",
                    event_id=tick_id,
                )
                if price == 200:
                    sent[tick_id] = time.time()
                await publisher.publish(event)
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 60
        while True:
            got = await receiver_stats(http, base, full=True)
            arrivals: dict[str, float] = got["arrivals"]
            if all(t in arrivals for t in sent) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    # The first 20 cycles warm up the path (connections, scripts); they are not measured.
    latencies = sorted(
        (arrivals[t] - sent[t]) * 1000 for t in sent if t in arrivals and int(t.split("-")[1]) >= 20
    )
    if not latencies:
        print("latency: no alert reached the webhook", flush=True)
        return None
    missing = sum(1 for t in sent if t not in arrivals)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"latency tick -> webhook received: p50={p50:.1f} ms p99={p99:.1f} ms "
        f"({len(latencies)} alerts, {missing} missing)",
        flush=True,
    )
    return p50, p99


async def main(args: argparse.Namespace) -> None:
    tune_gc()
    with bench_settings("notify") as base_settings:
        # The receiver listens on loopback; secrets under the benchmark's own key.
        settings = base_settings.model_copy(
            update={"webhook_allowed_networks": "127.0.0.0/8", "secrets_keys": SecretStr(KEY)}
        )
        await ensure_topics(settings)
        broker = make_broker(settings, client_id="ixo-bench")
        await broker.connect()
        publisher = EventPublisher(broker, settings)
        config = NotifierConfig(
            concurrency=args.concurrency,
            subscription_rate_per_s=1e6,
            subscription_burst=10**6,
            user_rate_per_s=1e6,
            user_burst=10**6,
        )
        try:
            async with receiver_process(SECRET) as base, httpx.AsyncClient(timeout=30) as http:
                hook = base + "/hook"
                users = [f"u{i:03d}" for i in range(args.users)]
                await publisher.publish_many([subscription(u, hook) for u in users])
                await publisher.publish_many([rule(u) for u in users])
                events = alerts(args.alerts + 200, args.users)
                async with running(build_app(settings, config)):
                    bench = Bench(settings, publisher, http, base)
                    ours = await run_ours(bench, events, args.users)
                    print(f"ours: {ours:.0f} deliveries/s", flush=True)
                    if args.ticks:
                        await run_latency(bench, args.ticks)
                baseline = await run_baseline(
                    base, alerts(args.alerts + 200, args.users), args.concurrency
                )
                print(f"baseline (raw httpx): {baseline:.0f} posts/s", flush=True)
        finally:
            await broker.stop()
        print(result_line("notify", ours, baseline, "deliveries/s"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ticks", type=int, default=200, help="latency samples (0: skip)")
    asyncio.run(main(parser.parse_args()))
