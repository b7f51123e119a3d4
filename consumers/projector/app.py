"""FastStream wiring of the projector: one batch subscriber per projection."""

from __future__ import annotations

from collections.abc import Sequence

from faststream import FastStream

from consumers.projector import PROJECTIONS, Projection, ProjectionStore
from infra.kafka import Delivery, make_broker, subscribe
from infra.mongo import init_read_models
from infra.settings import Settings

GROUP_PREFIX = "ixo.projector."


def build_app(settings: Settings, names: Sequence[str] | None = None) -> FastStream:
    """The projector app for the named projections (all by default)."""
    broker = make_broker(settings, client_id="ixo-projector")
    chosen = [PROJECTIONS[n] for n in (names or PROJECTIONS)]
    holder: dict[str, ProjectionStore] = {}

    def handler_for(projection: Projection) -> object:
        async def handle(batch: Sequence[Delivery]) -> None:
            await holder["store"].apply(projection, batch, topic=batch[0].topic)

        return handle

    for projection in chosen:
        subscribe(
            broker,
            settings,
            projection.topic,
            group=GROUP_PREFIX + projection.name,
            handler=handler_for(projection),  # type: ignore[arg-type]
        )

    app = FastStream(broker)

    @app.on_startup
    async def _connect() -> None:
        holder["store"] = ProjectionStore(await init_read_models(settings))

    return app
