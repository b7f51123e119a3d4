"""Probes of the scheduler's state, shared by the scheduler's integration tests."""

from __future__ import annotations

from consumers.scheduler import RedisBook
from consumers.scheduler.app import key_prefix, redis_client, schedules_group
from infra.settings import Settings
from schemas import SCHEDULES
from tests._kafka import group_caught_up


async def folded(settings: Settings) -> bool:
    """The scheduler's book has every schedule event (its fold group caught up)."""
    redis = redis_client(settings)
    try:
        epoch = await RedisBook(redis, key_prefix(settings)).epoch()
    finally:
        await redis.aclose()
    return await group_caught_up(settings, SCHEDULES, schedules_group(epoch))
