"""Watch checkpoints in Redis, under ``key_prefix(settings, "chain")``:

- ``cp:{<chain>:<address>}``: the :class:`WatchState` (JSON);
- ``win:{<chain>:<address>}``: a hash, block number -> the payloads published from that block of
  the reorg window (JSON list), what a retraction publishes again with ``removed=true``;
- ``lease:{<chain>:<address>}``: the process following the watch (expires unless renewed).

A commit writes the state and the window in one Lua script that first checks the lease, so a
process that stalled past its lease cannot move a checkpoint another process now owns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from consumers.chain_listener._types import WatchState
from schemas import TransientError

T = TypeVar("T")

_COMMIT: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local added = tonumber(ARGV[4])
local first_dropped = 5 + 2 * added
for i = first_dropped, #ARGV do redis.call('HDEL', KEYS[3], ARGV[i]) end
for i = 5, first_dropped - 1, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
return 1
"""

_CLAIM: Final = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisCheckpoints:
    """:class:`consumers.chain_listener.Checkpoints` in Redis."""

    def __init__(self, redis: Redis, prefix: str, *, lease_s: float = 15.0) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = int(lease_s * 1000)
        self._commit = redis.register_script(_COMMIT)
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def _keys(self, key: str) -> list[str]:
        tag = f"{{{key}}}"  # one hash slot for the three keys (Redis Cluster runs the script)
        return [f"{self._prefix}lease:{tag}", f"{self._prefix}cp:{tag}", f"{self._prefix}win:{tag}"]

    async def _do(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except RedisError as exc:
            msg = f"Redis ({what}): {type(exc).__name__}: {exc}"
            raise TransientError(msg) from None

    async def load(self, key: str) -> WatchState | None:
        raw = await self._do("load", lambda: self._redis.get(self._keys(key)[1]))
        return None if raw is None else WatchState.model_validate_json(raw)

    async def window_logs(self, key: str, blocks: Iterable[int]) -> list[str]:
        numbers = sorted(set(blocks))
        if not numbers:
            return []
        win = self._keys(key)[2]
        found: list[Any] = await self._do(
            "window", lambda: self._redis.hmget(win, [str(n) for n in numbers])
        )
        out: list[str] = []
        for raw in found:
            if raw is not None:
                out.extend(orjson.dumps(item).decode() for item in orjson.loads(raw))
        return out

    async def commit(
        self,
        key: str,
        owner: str,
        state: WatchState,
        *,
        added: Mapping[int, Sequence[str]],
        dropped: Iterable[int],
    ) -> bool:
        args: list[str | int] = [owner, state.model_dump_json(), self._lease_ms, len(added)]
        for number, payloads in added.items():
            args += [str(number), "[" + ",".join(payloads) + "]"]
        args += [str(n) for n in dropped]
        keys = self._keys(key)
        done = await self._do("commit", lambda: self._commit(keys=keys, args=args))
        return bool(done)

    async def claim(self, key: str, owner: str, ttl_s: float) -> bool:
        lease = self._keys(key)[0]
        ttl = max(1, int(ttl_s * 1000))
        done = await self._do("claim", lambda: self._claim(keys=[lease], args=[owner, ttl]))
        return bool(done)

    async def release(self, key: str, owner: str) -> None:
        lease = self._keys(key)[0]
        await self._do("release", lambda: self._release(keys=[lease], args=[owner]))

    async def forget(self, key: str) -> None:
        """Drop a watch's checkpoint and window (the next start begins anew)."""
        keys = self._keys(key)[1:]
        await self._do("forget", lambda: self._redis.delete(*keys))
