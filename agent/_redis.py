"""Redis implementations of the agent's stores (the default strategy).

Keys, under a prefix ``P`` (the deployment's, then ``agent:`` by default):
- ``P cp:<request_id>`` hash: ``s`` the step, ``state`` the state as JSON; expires after the
  checkpoint TTL. Saving is one Lua script (compare-and-set on ``s``), so a stale run cannot
  overwrite a newer checkpoint.
- ``P tc:<key>`` string: a cached tool result (JSON), with its own TTL.
"""

from __future__ import annotations

from typing import Final

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agent._state import AgentState
from schemas import PermanentError, TransientError

DEFAULT_CHECKPOINT_TTL_S: Final = 7 * 24 * 3600

_SAVE: Final = """
local cur = redis.call('HGET', KEYS[1], 's')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'state', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _mapped(exc: RedisError) -> TransientError | PermanentError:
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return TransientError(f"redis unavailable: {exc}")
    return PermanentError(f"redis error: {exc}")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisCheckpointStore:
    """:class:`CheckpointStore` in Redis (works with or without ``decode_responses``)."""

    def __init__(
        self, redis: Redis, *, key_prefix: str = "agent:", ttl_s: int = DEFAULT_CHECKPOINT_TTL_S
    ) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.ttl_s = ttl_s
        self._save = redis.register_script(_SAVE)

    def _key(self, request_id: str) -> str:
        return f"{self.key_prefix}cp:{request_id}"

    async def load(self, request_id: str) -> AgentState | None:
        try:
            raw = await self.redis.hget(self._key(request_id), "state")
        except RedisError as exc:
            raise _mapped(exc) from exc
        return None if raw is None else AgentState.model_validate_json(_text(raw))

    async def save(self, state: AgentState) -> bool:
        try:
            stored = await self._save(
                keys=[self._key(state.request_id)],
                args=[state.step, state.model_dump_json(), self.ttl_s],
            )
        except RedisError as exc:
            raise _mapped(exc) from exc
        return bool(stored)

    async def delete(self, request_id: str) -> None:
        try:
            await self.redis.delete(self._key(request_id))
        except RedisError as exc:
            raise _mapped(exc) from exc


class RedisToolResultCache:
    """:class:`ToolResultCache` in Redis: one string key per entry, expiring with its TTL."""

    def __init__(self, redis: Redis, *, key_prefix: str = "agent:") -> None:
        self.redis = redis
        self.key_prefix = key_prefix

    async def get(self, key: str) -> str | None:
        try:
            raw = await self.redis.get(f"{self.key_prefix}tc:{key}")
        except RedisError as exc:
            raise _mapped(exc) from exc
        return None if raw is None else _text(raw)

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        try:
            await self.redis.set(f"{self.key_prefix}tc:{key}", value, ex=max(1, ttl_s))
        except RedisError as exc:
            raise _mapped(exc) from exc
