"""The agent's store strategies as its configuration chooses them, on the session stack's real
Redis and FerretDB: a crashed run resumes from the configured store in a new process. What each
store promises is checked once per implementation by tests/contracts/test_checkpoint_store.py
and test_tool_result_cache.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from agent import (
    AgentFactory,
    MongoCheckpointStore,
    Ports,
    RedisCheckpointStore,
    StoreConfig,
    load_config,
)
from infra.settings import Settings
from tests.fakes import RecordingRules, RecordingSink, chat


@pytest.fixture
async def redis(settings: Settings, test_id: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"t{test_id}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def mongo(settings: Settings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    yield client[settings.mongodb_database]
    await client.drop_database(settings.mongodb_database)
    await client.close()


@pytest.mark.parametrize("store", ["redis", "mongodb"])
async def test_the_configuration_chooses_the_stores(
    store: str,
    redis: Redis,
    mongo: AsyncDatabase[dict[str, Any]],
    test_id: str,
) -> None:
    """The packaged agent on each backend, as configured: redelivery answers once."""
    cfg = load_config("market-assistant").model_dump()
    cfg["stores"] = StoreConfig(
        checkpoints=store,
        tool_cache=store,
        checkpoint_collection=f"cp_{test_id}",
        cache_collection=f"tc_{test_id}",
    ).model_dump()
    factory = AgentFactory(redis=redis, mongo=mongo, key_prefix=f"t{test_id}:")
    built = factory.build(cfg)
    expected = {"redis": RedisCheckpointStore, "mongodb": MongoCheckpointStore}[store]
    assert isinstance(built.orchestrator.checkpoints, expected)
    rules = RecordingRules()
    crashing = RecordingSink(fail_on="completed")
    with pytest.raises(RuntimeError, match="sink crashed"):
        await built.answer(
            chat("alert BTC above 70000"), request_id="r1", sink=crashing, ports=Ports(rules=rules)
        )
    again = factory.build(cfg)  # a new process: only the stores remember
    sink = RecordingSink()
    answer = await again.answer(
        chat("alert BTC above 70000"), request_id="r1", sink=sink, ports=Ports(rules=rules)
    )
    assert answer.resumed
    assert sink.kinds() == ["completed"]
    assert len(rules.creates) == 1
    replay = await again.answer(
        chat("alert BTC above 70000"),
        request_id="r1",
        sink=RecordingSink(),
        ports=Ports(rules=rules),
    )
    assert replay.replayed
