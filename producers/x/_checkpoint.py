"""Per-stream checkpoints in Redis: the newest post id acknowledged by Kafka (``since_id``) and,
while a poll is paging, how far it got (``newest_id`` seen so far and ``until_id``, the oldest
post already on Kafka), so a restart mid-stream resumes below what is published."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel
from redis.asyncio import Redis


class Progress(BaseModel):
    since_id: str | None = None
    newest_id: str | None = None
    until_id: str | None = None


class Checkpoints(Protocol):
    async def get(self, key: str) -> Progress: ...

    async def put(self, key: str, progress: Progress) -> None: ...


class RedisCheckpoints:
    """Checkpoints under ``prefix`` (``key_prefix(settings, "x")``) + ``checkpoint:<stream>``."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def get(self, key: str) -> Progress:
        raw = await self._redis.get(f"{self._prefix}checkpoint:{key}")
        return Progress() if raw is None else Progress.model_validate_json(raw)

    async def put(self, key: str, progress: Progress) -> None:
        await self._redis.set(f"{self._prefix}checkpoint:{key}", progress.model_dump_json())
