"""The current link of each platform account, in Redis: written through by ``/start CODE`` or
``/link CODE`` once the redeemed code's ``ixo.user.linked.v1`` is acknowledged, and folded from
``ixo.users.links`` by each bot process (links made elsewhere, or a lost Redis rebuilt by
replaying the compacted topic). Each write is guarded by the event's partition and offset, so an
older event never overwrites a newer one, whichever of the two writers comes last."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from redis.asyncio import Redis

from bots._ids import link_id
from bots._redis import redis_errors
from bots._types import BotPlatform, Link
from infra.kafka import Delivery
from schemas import UserLinkedV1

# KEYS[1] link key; ARGV: user id, chat id, partition, offset. Returns 1 if written.
_PUT_LUA: Final = """
local p = redis.call('HGET', KEYS[1], 'p')
if p == ARGV[3] then
  local o = tonumber(redis.call('HGET', KEYS[1], 'o'))
  if o ~= nil and o >= tonumber(ARGV[4]) then return 0 end
end
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'c', ARGV[2], 'p', ARGV[3], 'o', ARGV[4])
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLinks:
    """:class:`bots.LinkStore` over Redis hashes."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._put = redis.register_script(_PUT_LUA)

    def _key(self, platform: BotPlatform, platform_user_id: str) -> str:
        return f"{self._prefix}link:{link_id(platform, platform_user_id)}"

    async def get(self, platform: BotPlatform, platform_user_id: str) -> Link | None:
        async with redis_errors():
            user, chat = await self._redis.hmget(self._key(platform, platform_user_id), ["u", "c"])
        if user is None:
            return None
        return Link(user_id=_text(user), chat_id=_text(chat or b""))

    async def put(self, link: UserLinkedV1, *, partition: int, offset: int) -> bool:
        platform = link.platform
        if platform != "telegram" and platform != "discord":  # noqa: PLR1714 - narrows the type
            return False
        key = self._key(platform, link.platform_user_id)
        async with redis_errors():
            written = await self._put(
                keys=[key], args=[link.user_id, link.chat_id, partition, offset]
            )
        return bool(written)

    async def fold(self, batch: Sequence[Delivery], platform: BotPlatform) -> None:
        """Apply the ``ixo.user.linked.v1`` events of ``platform`` in a consumed batch."""
        for delivery in batch:
            data = delivery.event.data
            if isinstance(data, UserLinkedV1) and data.platform == platform:
                await self.put(data, partition=delivery.partition, offset=delivery.offset)
