"""`ixo groups reset`: a consumer group's offsets moved to the start, a time, the end; a dry run
changes nothing; a group with a running member is refused. Real Kafka, run as a user runs it."""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from infra.settings import Settings
from schemas import MARKET_TICKS
from tests._cli import aixo, ixo
from tests._kafka import eventually

GROUP = "ixo.reset-test"


async def committed(settings: Settings) -> int | None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.group(GROUP),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tp = TopicPartition(MARKET_TICKS.full_name(settings.topic_prefix), 0)
        found: int | None = await consumer.committed(tp)
        return found
    finally:
        await consumer.stop()


async def test_offsets_move_to_start_time_and_end(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    now_ms = int(time.time() * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers)
    await producer.start()
    # Ten records on partition 0, written 100 minutes ago down to 10 minutes ago: 10 minutes
    # apart, so a reset to "55 minutes ago" lands on the same record however long the commands
    # before it take on a loaded machine (up to 5 minutes).
    try:
        for i in range(10):
            await producer.send_and_wait(
                topic, b"{}", partition=0, timestamp_ms=now_ms - (10 - i) * 600_000
            )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.group(GROUP),
        enable_auto_commit=False,
    )
    await consumer.start()
    tp = TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(10, "")})
    finally:
        await consumer.stop()

    dry = await aixo(
        settings_env, "groups", "reset", "reset-test", "--to-start", "--dry-run", "--json"
    )
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    row = next(p for p in plan["partitions"] if p["partition"] == 0 and p["topic"] == topic)
    assert (row["current"], row["target"], row["reprocess"]) == (10, 0, 10)
    assert await committed(settings) == 10  # a dry run moves nothing

    back = await aixo(settings_env, "groups", "reset", "reset-test", "--to-time", "5m30s", "--json")
    assert back.returncode == 2  # not a duration we read: one line, nothing moved
    assert await committed(settings) == 10
    back = await aixo(settings_env, "groups", "reset", "reset-test", "--to-time", "3300s", "--json")
    assert back.returncode == 0, back.stderr
    assert await committed(settings) == 5  # the first record written at most 55 min ago

    end = await aixo(settings_env, "groups", "reset", "reset-test", "--to-end")
    assert end.returncode == 0, end.stderr
    assert await committed(settings) == 10

    start = await aixo(
        settings_env, "groups", "reset", "reset-test", "--to-start", "--topic", topic
    )
    assert start.returncode == 0, start.stderr
    assert await committed(settings) == 0


async def test_a_group_with_a_running_member_is_refused(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    member = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.group("ixo.reset-busy"),
        enable_auto_commit=False,
    )
    await member.start()
    try:
        tp = TopicPartition(topic, 0)

        async def joined() -> bool:
            await member.getmany(timeout_ms=500)
            return bool(member.assignment())

        await eventually(joined, timeout=60)
        await member.commit({tp: OffsetAndMetadata(0, "")})
        # in a thread: the member keeps heartbeating while the command runs
        done = await asyncio.to_thread(
            ixo, settings_env, "groups", "reset", "reset-busy", "--to-end"
        )
    finally:
        await member.stop()
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "stop its processes first" in lines[0]

    usage = await aixo(settings_env, "groups", "reset", "reset-busy", "--to-end", "--to-start")
    assert usage.returncode == 2
    assert "exactly one of" in usage.stderr
