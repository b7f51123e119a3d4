"""Redis for the bots: one client per process, every key under the deployment's prefix, and
Redis errors mapped to :class:`TransientError` at this edge.

Keys (prefix ``P`` = ``<topic prefix>ixo:bots:``):

- ``P link:<platform>:<platform user id>`` hash: ``u`` user id, ``c`` chat id, ``p``/``o``
  partition and offset of the ``ixo.user.linked.v1`` event it comes from;
- ``P once:<event id>`` the reply of a handled delivery (JSON), ``P once-lock:<event id>`` the
  claim of the handler working on it;
- ``P sent:<event id>`` an answer (``ixo.chat.response.completed.v1``) already delivered;
- ``P itok:<request id>`` the Discord interaction (application id, token) awaiting the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra.settings import Settings
from schemas import TransientError

REDIS_TIMEOUT_S: Final = 10.0


def key_prefix(settings: Settings) -> str:
    return f"{settings.topic_prefix}ixo:bots:"


def redis_client(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Map a Redis failure inside the block to :class:`TransientError`."""
    try:
        yield
    except RedisError as exc:
        msg = f"Redis unavailable: {exc}"
        raise TransientError(msg) from None
