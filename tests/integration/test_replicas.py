"""`ixo run rule-engine --replicas 2`: two real processes in one consumer group share the tick
partitions; kill -9 of one mid-stream hands its partitions to the other, and every alert is on
`ixo.alerts.matches` exactly once (decision 0099). A producer or a server refuses replicas with
one line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from consumers.rule_engine import backtest
from consumers.rule_engine.app import GROUP_TICKS
from infra.kafka import Delivery, EventPublisher, make_broker
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    MARKET_TICKS,
    AlertRuleCreatedV1,
    CloudEvent,
    MarketTickV1,
    codec_for,
    utc_now,
)
from tests._cli import ixo
from tests._kafka import eventually, group_caught_up, read_topic

SYMBOLS = [f"R{i}USDT" for i in range(9)]
PRICES = ["99", "101", "98", "102", "97", "103", "96", "104"]


def rule(symbol: str) -> AlertRuleCreatedV1:
    return AlertRuleCreatedV1.model_validate(
        {
            "rule_id": f"replicas-{symbol}",
            "user_id": "replica-user",
            "symbol": symbol,
            "condition": {"kind": "above", "threshold": "100"},
            "channels": [{"kind": "webhook", "target": "https://example.test/hook"}],
            "repeat": True,
        }
    )


def ticks(round_: int) -> list[CloudEvent[MarketTickV1]]:
    start = utc_now() - timedelta(minutes=10) + timedelta(seconds=len(PRICES) * round_)
    return [
        CloudEvent.new(
            MarketTickV1(symbol=s, price=Decimal(p), venue="test", ts=start + timedelta(seconds=i)),
            source="/tests/replicas",
        )
        for s in SYMBOLS
        for i, p in enumerate(PRICES)
    ]


async def _two(pids: list[int]) -> list[int]:
    return pids if len(pids) == 2 else []


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


async def members(settings: Settings, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([settings.group(group)])
        groups = [g for r in responses for g in r.to_object()["groups"]]
        return sum(len(g["members"]) for g in groups)
    finally:
        await admin.close()


@pytest.fixture
async def replicas(
    settings: Settings, settings_env: dict[str, str], topics: None, tmp_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    log = (tmp_path / "replicas.log").open("wb")  # the supervisor's prefixed output, if it fails
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "run",
        "rule-engine",
        "--replicas",
        "2",
        env=settings_env,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    yield proc
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=60)
    log.close()


async def test_two_processes_share_the_ticks_and_survive_a_kill(
    settings: Settings, replicas: asyncio.subprocess.Process
) -> None:
    async def both_joined() -> bool:
        return await members(settings, GROUP_TICKS) == 2

    await eventually(both_joined, timeout=90, interval=1.0)
    workers = await eventually(lambda: _two(children_of(replicas.pid)), timeout=30)

    broker = make_broker(settings, client_id="test-replicas")
    await broker.start()
    try:
        publisher = EventPublisher(broker, settings)
        rules = [rule(s) for s in SYMBOLS]
        await publisher.publish_many([CloudEvent.new(r, source="/tests") for r in rules])
        await publisher.publish_many(ticks(0))

        async def some_alerts() -> bool:
            return len(await read_topic(settings, ALERT_MATCHES)) > 0

        await eventually(some_alerts, timeout=60)
        os.kill(workers[0], signal.SIGKILL)  # mid-stream: its partitions go to the other
        await publisher.publish_many(ticks(1))
        await publisher.publish_many(ticks(2))

        async def caught_up() -> bool:
            return await group_caught_up(settings, MARKET_TICKS, GROUP_TICKS)

        await eventually(caught_up, timeout=120, interval=1.0)

        restarted = await eventually(lambda: _two(children_of(replicas.pid)), timeout=30)
        assert workers[0] not in restarted  # the killed one runs again, as a new process
    finally:
        await broker.stop()

    codec = codec_for(MARKET_TICKS)
    tick_records = await read_topic(settings, MARKET_TICKS)
    deliveries = [
        Delivery(codec.decode(r.value), r.topic, r.partition, r.offset, 0) for r in tick_records
    ]
    want: set[str] = set()
    for r in rules:
        want |= {m.alert.match_id for m in await backtest(r, deliveries, rule_version=1)}
    alert_codec = codec_for(ALERT_MATCHES)
    got = [
        alert_codec.decode(r.value).data.match_id for r in await read_topic(settings, ALERT_MATCHES)
    ]
    assert len(got) == len(set(got)), "an alert was published twice"
    assert set(got) == want
    assert len(want) == len(SYMBOLS) * 4 * 3  # four up-crossings per round, three rounds

    replicas.send_signal(signal.SIGTERM)  # both (the killed one was restarted) stop cleanly
    assert await asyncio.wait_for(replicas.wait(), timeout=60) == 0


@pytest.mark.parametrize(
    ("component", "why"),
    [
        ("gateway", "binds one port"),
        ("market-feed", "publish every tick twice"),
        ("embedder", "set IXO_QDRANT_URL"),
    ],
)
def test_a_component_that_cannot_scale_refuses_replicas(
    settings_env: dict[str, str], component: str, why: str
) -> None:
    env: dict[str, Any] = {k: v for k, v in settings_env.items() if k != "IXO_QDRANT_URL"}
    done = ixo(env, "run", component, "--replicas", "2")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {component} runs as one process")
    assert why in lines[0]


def test_up_checks_its_replica_options(settings_env: dict[str, str]) -> None:
    done = ixo(settings_env, "up", "--no-stack", "--replicas", "rule-engine", "--only", "projector")
    assert done.returncode == 2
    assert "COMPONENT=N" in done.stderr
