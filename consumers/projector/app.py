"""FastStream wiring of the projector: one batch subscriber per projection, and the ``trace``
index: one subscriber over every traced catalogue topic (group ``ixo.projector.trace``) writing
each event's entry under its correlation id in Redis (decision 0164).

AsyncAPI: ``faststream docs gen --factory consumers.projector.app:build_app`` (settings from the
environment; nothing is contacted)."""

from __future__ import annotations

from collections.abc import Sequence

from faststream import FastStream
from redis.asyncio import Redis

from consumers.projector import PROJECTIONS, Projection, ProjectionStore
from consumers.projector._redis import RedisTraceIndex
from consumers.projector._trace import TRACE, links_of, trace_entries, traced_topics
from infra.kafka import BatchHandler, Delivery, make_broker, subscribe
from infra.mongo import mongo_client, open_database
from infra.redis import key_prefix, redis_client
from infra.settings import Settings, get_settings
from readmodels import READ_MODELS

GROUP_PREFIX = "ixo.projector."


def _handler(store: ProjectionStore, projection: Projection) -> BatchHandler:
    async def handle(batch: Sequence[Delivery]) -> None:
        await store.apply(projection, batch, topic=batch[0].topic)

    return handle


def trace_index(settings: Settings, client: Redis | None = None) -> RedisTraceIndex:
    """The trace index of this deployment (its own Redis client unless given one)."""
    return RedisTraceIndex(
        client or redis_client(settings),
        key_prefix(settings, TRACE),
        ttl_s=settings.trace_ttl_s,
        max_events=settings.trace_max_events,
    )


def _trace_handler(index: RedisTraceIndex, prefix: str) -> BatchHandler:
    async def handle(batch: Sequence[Delivery]) -> None:
        await index.index(trace_entries(batch, prefix), links_of(batch))

    return handle


def build_app(settings: Settings | None = None, names: Sequence[str] | None = None) -> FastStream:
    """The projector app for the named projections (all by default, ``trace`` included);
    ``settings`` default to the environment's.

    Building contacts nothing (the MongoDB and Redis clients connect on first use); at startup
    the database is checked and the read models' indexes are created, before the broker starts.
    """
    settings = settings or get_settings()
    broker = make_broker(settings, client_id="ixo-projector")
    client = mongo_client(settings)
    store = ProjectionStore(client[settings.mongodb_database])
    chosen = list(names) if names is not None else [*PROJECTIONS, TRACE]
    for name in chosen:
        if name == TRACE:
            continue
        projection = PROJECTIONS[name]
        subscribe(
            broker,
            settings,
            projection.topic,
            group=GROUP_PREFIX + projection.name,
            handler=_handler(store, projection),
        )
    redis: Redis | None = None
    if TRACE in chosen:
        redis = redis_client(settings)
        subscribe(
            broker,
            settings,
            traced_topics(settings.trace_skip_topics),
            group=GROUP_PREFIX + TRACE,
            handler=_trace_handler(trace_index(settings, redis), settings.topic_prefix),
            title=GROUP_PREFIX + TRACE,
            description="Every event's envelope, indexed by correlation id (ixo trace)",
        )

    async def open_read_models() -> None:
        await open_database(settings, client, documents=READ_MODELS)

    async def close() -> None:
        await client.close()
        if redis is not None:
            await redis.aclose()

    return FastStream(broker, on_startup=[open_read_models], after_shutdown=[close])
