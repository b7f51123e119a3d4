"""FastStream wiring of the projector: one batch subscriber per projection.

AsyncAPI: ``faststream docs gen --factory consumers.projector.app:build_app`` (settings from the
environment; nothing is contacted)."""

from __future__ import annotations

from collections.abc import Sequence

from faststream import FastStream

from consumers.projector import PROJECTIONS, Projection, ProjectionStore
from infra.kafka import BatchHandler, Delivery, make_broker, subscribe
from infra.mongo import mongo_client, open_database
from infra.settings import Settings, get_settings
from readmodels import READ_MODELS

GROUP_PREFIX = "ixo.projector."


def _handler(store: ProjectionStore, projection: Projection) -> BatchHandler:
    async def handle(batch: Sequence[Delivery]) -> None:
        await store.apply(projection, batch, topic=batch[0].topic)

    return handle


def build_app(settings: Settings | None = None, names: Sequence[str] | None = None) -> FastStream:
    """The projector app for the named projections (all by default); ``settings`` default to
    the environment's.

    Building contacts nothing (the MongoDB client connects on first use); at startup the
    database is checked and the read models' indexes are created, before the broker starts.
    """
    settings = settings or get_settings()
    broker = make_broker(settings, client_id="ixo-projector")
    client = mongo_client(settings)
    store = ProjectionStore(client[settings.mongodb_database])
    for name in names or PROJECTIONS:
        projection = PROJECTIONS[name]
        subscribe(
            broker,
            settings,
            projection.topic,
            group=GROUP_PREFIX + projection.name,
            handler=_handler(store, projection),
        )

    async def open_read_models() -> None:
        await open_database(settings, client, documents=READ_MODELS)

    async def close() -> None:
        await client.close()

    return FastStream(broker, on_startup=[open_read_models], after_shutdown=[close])
