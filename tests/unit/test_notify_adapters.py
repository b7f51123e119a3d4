"""Adapter error mapping that needs no running service."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from consumers.notifier import RedisDirectory, RedisLedger
from schemas import TransientError


async def test_a_redis_outage_is_a_transient_error() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        with pytest.raises(TransientError, match="Redis unavailable"):
            await RedisDirectory(client, "x:").rule("r1")
        with pytest.raises(TransientError, match="Redis unavailable"):
            await RedisLedger(client, "x:", lease_s=5, ttl_s=60).claim("k", "t")
    finally:
        await client.aclose()
