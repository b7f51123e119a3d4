"""Fixtures of the contract suites: one suite per Protocol, run on every implementation.

Each suite parametrizes a fixture over the backends that implement its Protocol (``memory``,
``redis``, ``mongodb``); the Redis and MongoDB ones are the session stack's real services, with
a key prefix and a database of the test's own, cleaned up afterwards. A memory backend needs no
stack.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from infra.settings import Settings


@pytest.fixture
def key_prefix(test_id: str) -> str:
    """The test's own Redis key prefix (removed after the test)."""
    return f"t{test_id}:"


@pytest.fixture
async def redis(settings: Settings, key_prefix: str) -> AsyncIterator[Redis]:
    """A client of the stack's Redis; every key under ``key_prefix`` is deleted afterwards."""
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{key_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def mongo(settings: Settings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """The test's own database on the stack's MongoDB (FerretDB), dropped afterwards."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    try:
        yield client[settings.mongodb_database]
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()
