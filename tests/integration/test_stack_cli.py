"""Operator commands of the stack-and-ops slice against the real stack, run as a user runs them
(a subprocess): `ixo lag --group` with a group's short name, and an unknown group; the lag in
time."""

from __future__ import annotations

import json
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from infra.settings import Settings
from schemas import MARKET_TICKS
from tests._cli import aixo


async def commit_offset(settings: Settings, group: str, offset: int) -> None:
    """Give the (prefixed) consumer group ``group`` a committed offset on ticks partition 0."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.group(group),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tp = TopicPartition(MARKET_TICKS.full_name(settings.topic_prefix), 0)
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def test_lag_finds_a_group_by_its_short_name_and_refuses_an_unknown_one(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    await commit_offset(settings, "ixo.projector.prices", 0)
    for name in (
        "projector.prices",
        "ixo.projector.prices",
        settings.group("ixo.projector.prices"),
    ):
        done = await aixo(settings_env, "lag", "--group", name, "--json")
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        assert {r["group"] for r in rows} == {settings.group("ixo.projector.prices")}, name
        assert rows[0]["committed"] == 0

    unknown = await aixo(settings_env, "lag", "--group", "projector.nope")
    assert unknown.returncode == 1
    lines = unknown.stderr.strip().splitlines()
    assert len(lines) == 1, unknown.stderr
    assert lines[0].startswith("error: unknown consumer group 'projector.nope'")
    assert settings.group("ixo.projector.prices") in lines[0]  # this deployment's groups


async def test_lag_in_time_is_the_age_of_the_oldest_unprocessed_record(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    """Two records on partition 0 written a minute and 10 s ago (their Kafka timestamps): a group
    that processed none is a minute behind, one that processed the first is 10 s behind, and one
    at the end is not behind at all."""
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers)
    await producer.start()
    now_ms = int(time.time() * 1000)
    try:
        for age_s in (60, 10):
            await producer.send_and_wait(
                topic, b"{}", key=b"BTCUSDT", partition=0, timestamp_ms=now_ms - age_s * 1000
            )
    finally:
        await producer.stop()
    for group, offset in (("ixo.lag.none", 0), ("ixo.lag.one", 1), ("ixo.lag.done", 2)):
        await commit_offset(settings, group, offset)

    done = await aixo(settings_env, "lag", "--json")
    assert done.returncode == 0, done.stderr
    behind = {
        r["group"]: r
        for r in json.loads(done.stdout)
        if r["topic"] == topic and r["partition"] == 0
    }
    none, one, at_end = (
        behind[settings.group(g)] for g in ("ixo.lag.none", "ixo.lag.one", "ixo.lag.done")
    )
    assert none["lag"] == 2
    assert 59 <= none["lag_s"] < 60 + 120
    assert one["lag"] == 1
    assert 9 <= one["lag_s"] < 10 + 120
    assert at_end["lag"] == 0
    assert at_end["lag_s"] == 0

    table = await aixo(settings_env, "lag", "--group", "lag.none")
    assert table.returncode == 0, table.stderr
    assert "1m " in table.stdout  # "1m 00s" or so, behind
