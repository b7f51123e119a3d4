"""Operator commands of the stack-and-ops slice against the real stack, run as a user runs them
(a subprocess): `ixo lag --group` with a group's short name, and an unknown group."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from infra.settings import Settings
from schemas import MARKET_TICKS
from tests._cli import ixo


async def commit_offset(settings: Settings, group: str, offset: int) -> None:
    """Give the (prefixed) consumer group ``group`` a committed offset on ticks partition 0."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
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
        done = ixo(settings_env, "lag", "--group", name, "--json")
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        assert {r["group"] for r in rows} == {settings.group("ixo.projector.prices")}, name
        assert rows[0]["committed"] == 0

    unknown = ixo(settings_env, "lag", "--group", "projector.nope")
    assert unknown.returncode == 1
    lines = unknown.stderr.strip().splitlines()
    assert len(lines) == 1, unknown.stderr
    assert lines[0].startswith("error: unknown consumer group 'projector.nope'")
    assert settings.group("ixo.projector.prices") in lines[0]  # this deployment's groups
