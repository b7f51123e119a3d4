"""The Redis adapter of :class:`QuerySamples`: the latest search queries, a capped list."""

from __future__ import annotations

from redis.asyncio import Redis

MAX_QUERY_BYTES = 2000


class RedisQuerySamples:
    """``<prefix>queries``: newest first, at most ``keep`` entries."""

    def __init__(self, client: Redis, prefix: str, *, keep: int) -> None:
        self._client = client
        self._key = f"{prefix}queries"
        self._keep = keep

    async def record(self, query: str) -> None:
        if self._keep <= 0:
            return
        value = query.encode("utf-8")[:MAX_QUERY_BYTES]
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.lpush(self._key, value)
            pipe.ltrim(self._key, 0, self._keep - 1)
            await pipe.execute()

    async def recent(self, n: int) -> list[str]:
        """Up to ``n`` distinct recent queries, newest first."""
        raw = await self._client.lrange(self._key, 0, max(self._keep, n) - 1)
        seen: dict[str, None] = {}
        for value in raw:
            text = (
                value.decode("utf-8", errors="ignore") if isinstance(value, bytes) else str(value)
            )
            seen.setdefault(text, None)
            if len(seen) >= n:
                break
        return list(seen)
