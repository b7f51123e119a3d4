"""``ixo run x-source``: the source named by ``IXO_X_SOURCE`` (``api``, ``file:PATH`` or
``sample``) published to ``ixo.social.posts``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from infra.kafka import EventPublisher, make_broker
from infra.redis import key_prefix, redis_client
from infra.settings import Settings
from producers.x._checkpoint import RedisCheckpoints
from producers.x._client import XClient
from producers.x._file import SAMPLE_POSTS, load_posts
from producers.x._source import XSource, publish_posts
from producers.x._types import Clock, Stream, SystemClock

log = logging.getLogger(__name__)


class XSourceError(ValueError):
    """The x-source settings do not describe a source that can run."""


def streams_of(settings: Settings) -> list[Stream]:
    return [Stream("search", q) for q in settings.x_queries if q.strip()] + [
        Stream("timeline", u) for u in settings.x_user_ids if u.strip()
    ]


def file_of(spec: str) -> Path | None:
    """The posts file of a ``file:PATH`` or ``sample`` source; None for ``api``."""
    if spec == "sample":
        return SAMPLE_POSTS
    if spec.startswith("file:") and len(spec) > len("file:"):
        return Path(spec.removeprefix("file:"))
    if spec == "api":
        return None
    msg = f"IXO_X_SOURCE={spec!r}: expected api, file:PATH or sample"
    raise XSourceError(msg)


async def run_x_source(
    settings: Settings, stop: asyncio.Event, *, clock: Clock | None = None
) -> int:
    """Run until ``stop`` (a file source: until the file is published); posts published."""
    path = file_of(settings.x_source)
    streams = streams_of(settings)
    if path is None:
        if not settings.x_bearer_token.get_secret_value():
            msg = "IXO_X_SOURCE=api needs IXO_X_BEARER_TOKEN"
            raise XSourceError(msg)
        if not streams:
            msg = "IXO_X_SOURCE=api needs IXO_X_QUERIES or IXO_X_USER_IDS (JSON lists)"
            raise XSourceError(msg)
    broker = make_broker(settings, client_id="impressox-x-source")
    await broker.start()
    try:
        publisher = EventPublisher(broker, settings)
        if path is not None:
            posts = load_posts(path)
            await publish_posts(publisher, posts)
            log.info("x: published %d posts from %s", len(posts), path.name)
            return len(posts)
        clock = clock or SystemClock()
        redis = redis_client(settings)
        try:
            async with XClient(
                settings.x_api_url,
                settings.x_bearer_token,
                clock=clock,
                max_results=settings.x_max_results,
            ) as client:
                source = XSource(
                    client,
                    publisher,
                    RedisCheckpoints(redis, key_prefix(settings, "x")),
                    streams,
                    clock=clock,
                    poll_interval_s=settings.x_poll_interval_s,
                )
                await source.run(stop)
                return source.published
        finally:
            await redis.aclose()
    finally:
        await broker.stop()
