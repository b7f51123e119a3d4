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

from redis.exceptions import RedisError

from infra.redis import key_prefix as _key_prefix
from infra.redis import redis_client
from infra.settings import Settings
from schemas import TransientError

REDIS_COMPONENT: Final = "bots"

__all__ = ["key_prefix", "redis_client", "redis_errors"]


def key_prefix(settings: Settings) -> str:
    """The Redis key prefix of the bots' state (the deployment's topic prefix included)."""
    return _key_prefix(settings, REDIS_COMPONENT)


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Map a Redis failure inside the block to :class:`TransientError`."""
    try:
        yield
    except RedisError as exc:
        msg = f"Redis unavailable: {exc}"
        raise TransientError(msg) from None
