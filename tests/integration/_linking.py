"""The identity service as the gateway runs it, for tests that link chat accounts: it issues
the one-time link codes a bot redeems (same MongoDB database, same Redis, same key prefix)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from infra.kafka import EventPublisher
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from services import IdentityService, Services


@asynccontextmanager
async def identity_service(
    settings: Settings, publisher: EventPublisher, redis: Redis
) -> AsyncIterator[IdentityService]:
    client = mongo_client(settings)
    try:
        database = await open_database(settings, client)
        services = Services.build(publisher, database, settings, source="/tests", redis=redis)
        yield services.identity
    finally:
        await client.close()


async def code_key(settings: Settings, redis: Redis, code: str) -> str:
    """The Redis key holding a link code, under this deployment's prefix (the only one)."""
    keys = [k async for k in redis.scan_iter(match=f"{settings.topic_prefix}*code:{code}")]
    assert len(keys) == 1, keys
    key = keys[0]
    return key.decode() if isinstance(key, bytes) else str(key)
