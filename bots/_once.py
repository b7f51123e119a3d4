"""Each delivery is handled once: the first handler claims it in Redis, does the work and stores
the reply; a redelivery (same event id) gets the stored reply and publishes nothing.

The claim expires, so a handler that died mid-way does not block the delivery for good; the
work itself is idempotent too (deterministic event and rule ids), so the rare redo after such a
crash publishes the same ids again, which consumers deduplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bots._errors import DeliveryBusy
from bots._redis import redis_errors
from bots._types import Reply

DONE_TTL_S: Final = 48 * 3600  # Telegram keeps an unconfirmed update for 24 h
CLAIM_TTL_S: Final = 60
WAIT_S: Final = 5.0

_RELEASE_LUA: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _encode(reply: Reply) -> str:
    return json.dumps({"text": reply.text, "request_id": reply.request_id})


def _decode(raw: bytes | str) -> Reply:
    value = json.loads(raw)
    return Reply(text=str(value["text"]), request_id=value.get("request_id"))


class RedisOnce:
    """:class:`bots.OnceStore` over Redis."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        done_ttl_s: int = DONE_TTL_S,
        claim_ttl_s: int = CLAIM_TTL_S,
        wait_s: float = WAIT_S,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._done_ttl_s = done_ttl_s
        self._claim_ttl_s = claim_ttl_s
        self._wait_s = wait_s
        self._release = redis.register_script(_RELEASE_LUA)

    async def _done(self, key: str) -> Reply | None:
        async with redis_errors():
            raw = await self._redis.get(f"{self._prefix}once:{key}")
        return None if raw is None else _decode(raw)

    async def run(self, key: str, work: Callable[[], Awaitable[Reply]]) -> Reply:
        done = await self._done(key)
        if done is not None:
            return done
        claim = f"{self._prefix}once-lock:{key}"
        token = uuid.uuid4().hex
        async with redis_errors():
            claimed = await self._redis.set(claim, token, nx=True, ex=self._claim_ttl_s)
        if not claimed:
            return await self._wait_for(key)
        try:
            reply = await work()
            async with redis_errors():
                await self._redis.set(
                    f"{self._prefix}once:{key}", _encode(reply), ex=self._done_ttl_s
                )
            return reply
        finally:
            # A claim left behind expires by itself; never let it hide the work's own error.
            with contextlib.suppress(RedisError):
                await self._release(keys=[claim], args=[token])

    async def _wait_for(self, key: str) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        while loop.time() < deadline:
            await asyncio.sleep(0.1)
            done = await self._done(key)
            if done is not None:
                return done
        msg = f"delivery {key} is being handled by another handler"
        raise DeliveryBusy(msg)
