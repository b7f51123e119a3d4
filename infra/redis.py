"""Redis adapter: the one client factory (every client with connect and socket timeouts from
settings) and the key prefix of each component's state.

A key prefix holds the deployment's topic prefix, so two deployments (or two tests) share one
Redis without seeing each other's keys. The prefixes are part of the stored data: changing one
orphans the state kept under the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from infra.settings import Settings
from schemas import TransientError


def key_prefix(settings: Settings, component: str) -> str:
    """The Redis key prefix of ``component``'s state: ``<topic prefix>ixo:<component>:``
    (``rule-engine``, ``sched``, ``notify``, ``bots``)."""
    return f"{settings.topic_prefix}ixo:{component}:"


def redis_client(settings: Settings, *, max_connections: int | None = None) -> Redis:
    """A client for ``IXO_REDIS_URL`` whose connects and commands time out after
    ``IXO_REDIS_TIMEOUT_S`` (a Redis that stops answering is an error, not a hang).

    With ``max_connections``, callers beyond that many wait (up to the same timeout) for a free
    connection instead of failing with "Too many connections" (the notifier runs hundreds of
    deliveries at once).
    """
    timeout = settings.redis_timeout_s
    if max_connections is None:
        return Redis.from_url(
            settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return Redis(connection_pool=pool)


EPOCH_SUFFIX = "epoch"
LOCK_SUFFIX = "rebuild-lock"
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class StateEpoch:
    """The generation marker of a component's Redis working state, and the lock of its rebuild.

    ``<prefix>epoch`` holds when the state under ``prefix`` was (re)built; it is written last by
    a rebuild, so its absence means the state is missing or incomplete (a Redis restart without
    persistence, a ``FLUSHALL``, ``ixo rebuild redis``). :meth:`ensure` is cheap when the marker
    is there (one ``GET``); otherwise one process rebuilds (``<prefix>rebuild-lock``, renewed
    while it runs; every key under the prefix but the lock and ``keep`` is deleted first) and
    the others wait for the marker. Redis errors become
    :class:`schemas.TransientError` (the caller's batch is retried).
    """

    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        keep: Sequence[str] = (),
        lock_ttl_s: float = 30.0,
        wait_s: float = 600.0,
        poll_s: float = 0.2,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.key = prefix + EPOCH_SUFFIX
        self.lock = prefix + LOCK_SUFFIX
        self._keep = {self.lock.encode(), *((prefix + k).encode() for k in keep)}
        self._ttl_ms = int(lock_ttl_s * 1000)
        self._wait_s = wait_s
        self._poll_s = poll_s

    async def current(self) -> str | None:
        """When the state was built (ISO time), or None when it is gone."""
        try:
            raw = await self.client.get(self.key)
        except RedisError as exc:
            msg = f"Redis unavailable: {exc}"
            raise TransientError(msg) from None
        return raw.decode() if isinstance(raw, bytes) else raw

    async def ensure(self, rebuild: Callable[[], Awaitable[object]]) -> bool:
        """Rebuild (once, in one process) when the marker is missing; True if this call did."""
        if await self.current() is not None:
            return False
        return await self._rebuild(rebuild, force=False)

    async def force(self, rebuild: Callable[[], Awaitable[object]]) -> None:
        """Drop the state and rebuild it now (running components wait for the new marker)."""
        await self._rebuild(rebuild, force=True)

    async def _rebuild(self, rebuild: Callable[[], Awaitable[object]], *, force: bool) -> bool:
        token = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        try:
            while not await self.client.set(self.lock, token, nx=True, px=self._ttl_ms):
                if not force and await self.current() is not None:
                    return False  # another process rebuilt meanwhile
                if loop.time() >= deadline:
                    msg = f"waited {self._wait_s:g}s for another process to rebuild {self.prefix}"
                    raise TransientError(msg)
                await asyncio.sleep(self._poll_s)
            if not force and await self.current() is not None:
                await self.client.eval(_RELEASE, 1, self.lock, token)
                return False
        except RedisError as exc:
            msg_0 = f"Redis unavailable: {exc}"
            raise TransientError(msg_0) from None
        renewing = asyncio.create_task(self._renew(token))
        try:
            await self.client.delete(self.key)
            await self.clear()
            await rebuild()
            await self.client.set(self.key, datetime.now(UTC).isoformat())
        except RedisError as exc:
            msg_0 = f"Redis unavailable: {exc}"
            raise TransientError(msg_0) from None
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await renewing
            with contextlib.suppress(RedisError):
                await self.client.eval(_RELEASE, 1, self.lock, token)
        return True

    async def _renew(self, token: str) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            await self.client.eval(_RENEW, 1, self.lock, token, self._ttl_ms)

    async def clear(self) -> int:
        """Delete every key under the prefix but the rebuild lock and the ``keep`` keys;
        returns how many."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        deleted = 0
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=pattern, count=5000):
            if key in self._keep:
                continue
            batch.append(key)
            if len(batch) >= 5000:
                deleted += await self.client.unlink(*batch)
                batch = []
        if batch:
            deleted += await self.client.unlink(*batch)
        return deleted
