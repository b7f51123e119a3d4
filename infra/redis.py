"""Redis adapter: the one client factory (every client with connect and socket timeouts from
settings) and the key prefix of each component's state.

A key prefix holds the deployment's topic prefix, so two deployments (or two tests) share one
Redis without seeing each other's keys. The prefixes are part of the stored data: changing one
orphans the state kept under the old one.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from infra.settings import Settings


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
