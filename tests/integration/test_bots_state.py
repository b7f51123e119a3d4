"""The bots' Redis state against the real Redis: the link table and the once-per-delivery store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bots import DeliveryBusy, Link, RedisLinks, RedisOnce, Reply
from bots._redis import key_prefix, redis_client
from infra.settings import Settings
from schemas import UserLinkedV1


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = redis_client(settings)
    try:
        yield client
    finally:
        await client.aclose()


def link(user_id: str, platform: str = "telegram") -> UserLinkedV1:
    return UserLinkedV1.model_validate(
        {
            "link_id": f"{platform}:7",
            "platform": platform,
            "platform_user_id": "7",
            "chat_id": "70",
            "user_id": user_id,
        }
    )


async def test_links_keep_the_latest_event_whatever_the_order(
    redis: Redis, settings: Settings
) -> None:
    links = RedisLinks(redis, key_prefix(settings))
    assert await links.get("telegram", "7") is None
    assert await links.put(link("bob"), partition=1, offset=5)
    assert not await links.put(link("alice"), partition=1, offset=3)  # older: ignored
    assert not await links.put(link("alice"), partition=1, offset=5)  # the same again
    assert await links.get("telegram", "7") == Link(user_id="bob", chat_id="70")
    assert await links.put(link("carol"), partition=1, offset=9)
    assert await links.get("telegram", "7") == Link(user_id="carol", chat_id="70")
    assert await links.get("discord", "7") is None
    assert not await links.put(link("web-user", platform="web"), partition=1, offset=10)


async def test_once_runs_the_work_of_a_delivery_once(redis: Redis, settings: Settings) -> None:
    once = RedisOnce(redis, key_prefix(settings), wait_s=3)
    runs = 0

    async def work() -> Reply:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.3)
        return Reply("done", request_id="req-1")

    first, second = await asyncio.gather(once.run("d1", work), once.run("d1", work))
    assert first == second == Reply("done", request_id="req-1")
    assert await once.run("d1", work) == first
    assert runs == 1


async def test_once_forgets_failed_work_and_reports_a_busy_delivery(
    redis: Redis, settings: Settings
) -> None:
    once = RedisOnce(redis, key_prefix(settings), wait_s=0.3)

    async def fails() -> Reply:
        msg = "Kafka down"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError):
        await once.run("d2", fails)

    async def works() -> Reply:
        return Reply("ok")

    assert await once.run("d2", works) == Reply("ok")  # the failed attempt left no claim

    started = asyncio.Event()

    async def slow() -> Reply:
        started.set()
        await asyncio.sleep(1.0)
        return Reply("slow")

    task = asyncio.create_task(once.run("d3", slow))
    await started.wait()
    with pytest.raises(DeliveryBusy):
        await once.run("d3", works)
    assert await task == Reply("slow")
    assert await once.run("d3", works) == Reply("slow")
