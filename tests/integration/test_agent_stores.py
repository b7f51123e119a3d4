"""One contract suite for the agent's store strategies, run on every implementation: Redis and
MongoDB (the session stack's real Redis and FerretDB) and the in-process one. Each test gets
its own key prefix and database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from agent import (
    AgentFactory,
    AgentState,
    CheckpointStore,
    MemoryCheckpointStore,
    MemoryToolResultCache,
    Message,
    MongoCheckpointStore,
    MongoToolResultCache,
    Ports,
    RedisCheckpointStore,
    RedisToolResultCache,
    StoreConfig,
    ToolRequest,
    ToolResultCache,
    load_config,
)
from infra.settings import Settings
from schemas import ToolCall
from tests.unit.test_agent_offline import RecordingRules, RecordingSink, chat

KINDS = ["redis", "mongodb", "memory"]


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


StoreMaker = Callable[..., CheckpointStore]


@dataclass
class Backend:
    """The clients one store test needs (none for the memory kind)."""

    kind: str
    test_id: str
    redis: Redis | None = None
    mongo: AsyncDatabase[dict[str, Any]] | None = None


@pytest.fixture(params=KINDS)
async def backend(request: pytest.FixtureRequest, test_id: str) -> AsyncIterator[Backend]:
    kind = str(request.param)
    if kind == "memory":
        yield Backend(kind, test_id)
        return
    settings: Settings = request.getfixturevalue("settings")
    if kind == "redis":
        client = Redis.from_url(settings.redis_url)
        yield Backend(kind, test_id, redis=client)
        keys = [k async for k in client.scan_iter(match=f"t{test_id}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        return
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    yield Backend(kind, test_id, mongo=mongo[settings.mongodb_database])
    await mongo.drop_database(settings.mongodb_database)
    await mongo.close()


@pytest.fixture
def checkpoints(backend: Backend) -> StoreMaker:
    """Makes a checkpoint store of the backend's kind with the given TTL."""

    def make(ttl_s: int = 3600) -> CheckpointStore:
        if backend.redis is not None:
            prefix = f"t{backend.test_id}:agent:"
            return RedisCheckpointStore(backend.redis, key_prefix=prefix, ttl_s=ttl_s)
        if backend.mongo is not None:
            collection = f"cp_{backend.test_id}"
            return MongoCheckpointStore(backend.mongo, collection=collection, ttl_s=ttl_s)
        return MemoryCheckpointStore(ttl_s=ttl_s)

    return make


@pytest.fixture
def cache(backend: Backend) -> ToolResultCache:
    if backend.redis is not None:
        return RedisToolResultCache(backend.redis, key_prefix=f"t{backend.test_id}:agent:")
    if backend.mongo is not None:
        return MongoToolResultCache(backend.mongo, collection=f"tc_{backend.test_id}")
    return MemoryToolResultCache()


def state(request_id: str = "req-1", step: int = 1, **update: Any) -> AgentState:
    base = AgentState(
        request_id=request_id,
        session_id="s-1",
        user_id="u-1",
        channel="telegram",
        agent="market-assistant",
        graph="market-assistant:online",
        messages=(
            Message(role="system", content="be brief"),
            Message(role="user", content="alert BTC above 70000 — “quoted” ü"),
            Message(
                role="assistant",
                tool_calls=(
                    ToolRequest(index=0, call_id="c0", name="create_alert", arguments='{"a": 1}'),
                ),
            ),
            Message(role="tool", tool_call_id="c0", content='{"$set": {"a.b": 1}}'),
        ),
        tool_calls=(
            ToolCall(call_id="c0", name="create_alert", arguments={"$x": {"a.b": 1}}, result=[1]),
        ),
        next_call_index=1,
        tool_rounds=1,
        node="llm",
        step=step,
        trace=("llm", "tools"),
        text="partial",
        delta_seq=3,
    )
    return base.model_copy(update=update)


async def test_checkpoint_round_trip(checkpoints: StoreMaker) -> None:
    store = checkpoints()
    assert await store.load("req-1") is None
    saved = state()
    assert await store.save(saved)
    assert await store.load("req-1") == saved
    assert await store.load("req-2") is None


async def test_checkpoint_compare_and_set_on_step(checkpoints: StoreMaker) -> None:
    store = checkpoints()
    assert await store.save(state(step=2, text="two"))
    assert not await store.save(state(step=2, text="other two"))
    assert not await store.save(state(step=1, text="one"))
    loaded = await store.load("req-1")
    assert loaded is not None
    assert loaded.text == "two"
    assert await store.save(state(step=3, text="three"))
    loaded = await store.load("req-1")
    assert loaded is not None
    assert loaded.text == "three"


async def test_concurrent_saves_of_one_step_let_one_win(checkpoints: StoreMaker) -> None:
    store = checkpoints()
    results = await asyncio.gather(*(store.save(state(step=5, text=f"{i}")) for i in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    winner = results.index(True)
    loaded = await store.load("req-1")
    assert loaded is not None
    assert loaded.text == str(winner)


async def test_checkpoint_delete(checkpoints: StoreMaker) -> None:
    store = checkpoints()
    assert await store.save(state(step=4))
    await store.delete("req-1")
    assert await store.load("req-1") is None
    assert await store.save(state(step=1))
    await store.delete("never-saved")


async def test_checkpoints_expire(checkpoints: StoreMaker) -> None:
    store = checkpoints(ttl_s=1)
    assert await store.save(state(step=7))
    await asyncio.sleep(1.3)
    assert await store.load("req-1") is None
    assert await store.save(state(step=1))  # an expired checkpoint does not block new ones


async def test_cache_round_trip_and_overwrite(cache: ToolResultCache) -> None:
    assert await cache.get("fx:req:0:create_alert") is None
    await cache.put("fx:req:0:create_alert", '{"result": {"rule_id": "r"}, "error": null}', 60)
    assert await cache.get("fx:req:0:create_alert") == '{"result": {"rule_id": "r"}, "error": null}'
    await cache.put("fx:req:0:create_alert", "ünïcode “text”", 60)
    assert await cache.get("fx:req:0:create_alert") == "ünïcode “text”"
    key = 'rd:get_price:{"symbol":"BTCUSDT"}'
    await cache.put(key, "{}", 60)
    assert await cache.get(key) == "{}"


async def test_cache_entries_expire(cache: ToolResultCache) -> None:
    await cache.put("k", "v", 1)
    assert await cache.get("k") == "v"
    await asyncio.sleep(1.3)
    assert await cache.get("k") is None


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
