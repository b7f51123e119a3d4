"""The contract of the agent's :class:`agent.CheckpointStore`, run on every implementation:
in memory, Redis and MongoDB (the stack's real services). A checkpoint round-trips exactly,
saves are compare-and-set on the step (one of several concurrent saves wins), a delete forgets,
and checkpoints expire after their time to live."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from agent import (
    AgentState,
    CheckpointStore,
    MemoryCheckpointStore,
    Message,
    MongoCheckpointStore,
    RedisCheckpointStore,
    ToolRequest,
)
from schemas import ToolCall

StoreMaker = Callable[..., CheckpointStore]


@pytest.fixture(params=["memory", "redis", "mongodb"])
def checkpoints(request: pytest.FixtureRequest, test_id: str) -> StoreMaker:
    """Makes a checkpoint store of the parameter's kind with the given time to live."""
    kind = str(request.param)
    if kind == "redis":
        redis, prefix = request.getfixturevalue("redis"), request.getfixturevalue("key_prefix")

        def on_redis(ttl_s: int = 3600) -> CheckpointStore:
            return RedisCheckpointStore(redis, key_prefix=f"{prefix}agent:", ttl_s=ttl_s)

        return on_redis
    if kind == "mongodb":
        mongo = request.getfixturevalue("mongo")

        def on_mongo(ttl_s: int = 3600) -> CheckpointStore:
            return MongoCheckpointStore(mongo, collection=f"cp_{test_id}", ttl_s=ttl_s)

        return on_mongo
    return lambda ttl_s=3600: MemoryCheckpointStore(ttl_s=ttl_s)


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


async def test_a_checkpoint_round_trips_exactly(checkpoints: StoreMaker) -> None:
    store = checkpoints()
    assert await store.load("req-1") is None
    saved = state()
    assert await store.save(saved)
    assert await store.load("req-1") == saved
    assert await store.load("req-2") is None


async def test_a_save_is_compare_and_set_on_the_step(checkpoints: StoreMaker) -> None:
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


async def test_requests_are_independent(checkpoints: StoreMaker) -> None:
    store = checkpoints()
    assert await store.save(state("req-a", step=3))
    assert await store.save(state("req-b", step=1))  # a lower step of another request
    a, b = await store.load("req-a"), await store.load("req-b")
    assert a is not None
    assert b is not None
    assert (a.step, b.step) == (3, 1)


async def test_a_delete_forgets_the_checkpoint(checkpoints: StoreMaker) -> None:
    store = checkpoints()
    assert await store.save(state(step=4))
    await store.delete("req-1")
    assert await store.load("req-1") is None
    assert await store.save(state(step=1))
    await store.delete("never-saved")
    loaded = await store.load("req-1")
    assert loaded is not None
    assert loaded.step == 1


async def test_checkpoints_expire(checkpoints: StoreMaker) -> None:
    store = checkpoints(ttl_s=1)
    assert await store.save(state(step=7))
    await asyncio.sleep(1.3)  # past the time to live (a wait, not a bound on elapsed time)
    assert await store.load("req-1") is None
    assert await store.save(state(step=1))  # an expired checkpoint does not block new ones
