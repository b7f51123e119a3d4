"""``POST /v1/events`` through the gateway (FastAPI on uvicorn, a separate process) against a raw
aiokafka producer publishing the same events, both with the same concurrency and both waiting
for the broker's acknowledgement of every event. Authentication is on: every request carries an
operator's API token (the route needs the operator scope), as a client of the raw event route
would; the per-caller rate limit is raised out of the way (it is not what is measured).

    python -m benchmarks.gateway [--events N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import httpx
from aiokafka import AIOKafkaProducer

from benchmarks._stack import bench_settings, result_line
from infra.kafka import EventPublisher, ensure_topics, make_broker, record_headers
from infra.mongo import mongo_client, open_database
from infra.runtime import tune_gc
from infra.settings import Settings
from schemas import MARKET_TICKS, USERS, CloudEvent, MarketTickV1, encode
from services import Services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def events(n: int) -> list[CloudEvent[MarketTickV1]]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        CloudEvent.new(
            MarketTickV1(
                symbol=f"S{i % 50:02d}USDT",
                price=Decimal(60000 + i % 997) / 10,
                venue="bench",
                ts=t0 + timedelta(milliseconds=i),
            ),
            source="/benchmarks/gateway",
        )
        for i in range(n)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(
    n: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run ``one(i)`` for i in range(n) with ``concurrency`` workers; (per second, latencies)."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started), latencies


async def operator_token(settings: Settings) -> str:
    """A new operator user and their API token, as ``ixo tokens create`` makes them."""
    broker = make_broker(settings, client_id="ixo-bench")
    await broker.connect()
    client = mongo_client(settings)
    try:
        database = await open_database(settings, client)
        identity = Services.build(
            EventPublisher(broker, settings), database, settings, source="/benchmarks/gateway"
        ).identity
        await identity.ensure_user("bench-operator")
        made = await identity.create_token("bench-operator", ("user", "operator"), "benchmark")
        return made.token
    finally:
        await client.close()
        await broker.stop()


async def main(n: int, concurrency: int) -> None:
    tune_gc()
    with bench_settings("gateway") as settings:
        await ensure_topics(settings, [MARKET_TICKS, MARKET_TICKS.dlq, USERS])
        token = await operator_token(settings)
        batch = events(n)
        bodies = [encode(e) for e in batch]
        port = free_port()
        env = {
            **os.environ,
            **_env(settings),
            "IXO_GATEWAY_PORT": str(port),
            "IXO_GATEWAY_RATE_PER_S": "1000000",
            "IXO_GATEWAY_BURST": "1000000",
            "IXO_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
            [sys.executable, "-m", "cli", "run", "gateway"],
            env=env,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
                await _wait_healthy(probe)
            # The load generator is aiohttp: httpx's pool, not the server, saturates first at
            # this concurrency (measured: ~430 req/s on a route the server serves at ~1,900/s).
            async with aiohttp.ClientSession(
                f"http://127.0.0.1:{port}", connector=aiohttp.TCPConnector(limit=concurrency)
            ) as client:
                request_headers = {
                    "content-type": "application/json",
                    "authorization": f"Bearer {token}",
                }

                async def post(i: int) -> None:
                    async with client.post(
                        "/v1/events", data=bodies[i], headers=request_headers
                    ) as response:
                        text = await response.text()
                    if response.status != 202:
                        msg = f"gateway answered {response.status}: {text}"
                        raise RuntimeError(msg)

                await drive(min(n, 500), concurrency, post)  # warm-up
                ours, ours_lat = await drive(n, concurrency, post)
        finally:
            server.terminate()
            server.wait(timeout=30)

        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_servers,
            enable_idempotence=True,
            acks="all",
            linger_ms=settings.kafka_linger_ms,
        )
        await producer.start()
        topic = MARKET_TICKS.full_name(settings.topic_prefix)
        headers = [[(k, v.encode()) for k, v in record_headers(e).items()] for e in batch]

        async def send(i: int) -> None:
            await producer.send_and_wait(
                topic, value=bodies[i], key=batch[i].subject.encode(), headers=headers[i]
            )

        try:
            await drive(min(n, 500), concurrency, send)
            raw, raw_lat = await drive(n, concurrency, send)
        finally:
            await producer.stop()
        print(
            f"gateway POST /v1/events (operator token): {ours:,.0f} req/s  "
            f"{_latency(ours_lat)}  (concurrency {concurrency})"
        )
        print(f"raw aiokafka send_and_wait: {raw:,.0f} events/s  {_latency(raw_lat)}")
        print(result_line("gateway", ours, raw, "events/s"))


def _latency(values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1e3, percentile(values, 0.99) * 1e3
    return f"p50={p50:.1f} ms p99={p99:.1f} ms"


def _env(settings: Settings) -> dict[str, str]:
    return {
        "IXO_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "IXO_MONGODB_URL": settings.mongodb_url,
        "IXO_MONGODB_DATABASE": settings.mongodb_database,
        "IXO_REDIS_URL": settings.redis_url,
        "IXO_TOPIC_PREFIX": settings.topic_prefix,
    }


async def _wait_healthy(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    msg = "the gateway did not become healthy within 60 s"
    raise RuntimeError(msg)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.concurrency))
