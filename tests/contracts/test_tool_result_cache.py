"""The contract of the agent's :class:`agent.ToolResultCache`, run on every implementation: in
memory, Redis and MongoDB (the stack's real services). A value round-trips exactly (any text),
a put overwrites, and entries expire after their time to live."""

from __future__ import annotations

import asyncio

import pytest

from agent import (
    MemoryToolResultCache,
    MongoToolResultCache,
    RedisToolResultCache,
    ToolResultCache,
)


@pytest.fixture(params=["memory", "redis", "mongodb"])
def cache(request: pytest.FixtureRequest, test_id: str) -> ToolResultCache:
    kind = str(request.param)
    if kind == "redis":
        prefix = request.getfixturevalue("key_prefix")
        return RedisToolResultCache(request.getfixturevalue("redis"), key_prefix=f"{prefix}agent:")
    if kind == "mongodb":
        return MongoToolResultCache(request.getfixturevalue("mongo"), collection=f"tc_{test_id}")
    return MemoryToolResultCache()


async def test_values_round_trip_and_a_put_overwrites(cache: ToolResultCache) -> None:
    assert await cache.get("fx:req:0:create_alert") is None
    await cache.put("fx:req:0:create_alert", '{"result": {"rule_id": "r"}, "error": null}', 60)
    assert await cache.get("fx:req:0:create_alert") == '{"result": {"rule_id": "r"}, "error": null}'
    await cache.put("fx:req:0:create_alert", "ünïcode “text”", 60)
    assert await cache.get("fx:req:0:create_alert") == "ünïcode “text”"
    key = 'rd:get_price:{"symbol":"BTCUSDT"}'
    await cache.put(key, "{}", 60)
    assert await cache.get(key) == "{}"
    assert await cache.get("fx:req:0:create_alert") == "ünïcode “text”"


async def test_entries_expire(cache: ToolResultCache) -> None:
    await cache.put("k", "v", 1)
    assert await cache.get("k") == "v"
    await asyncio.sleep(1.3)  # past the time to live (a wait, not a bound on elapsed time)
    assert await cache.get("k") is None
