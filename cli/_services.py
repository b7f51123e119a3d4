"""The service layer for one CLI command: a connected publisher, the read-model database and
the tick history, closed when the command ends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from cli._kafka import connected_broker
from infra.kafka import EventPublisher, KafkaTickHistory
from infra.mongo import mongo_client, open_database
from infra.redis import redis_client
from infra.settings import Settings
from services import Services

SOURCE = "/cli"


@contextlib.asynccontextmanager
async def cli_services(settings: Settings, client_id: str) -> AsyncIterator[Services]:
    client = mongo_client(settings)
    redis = redis_client(settings)
    try:
        database = await open_database(settings, client)
        async with connected_broker(settings, client_id) as broker:
            yield Services.build(
                EventPublisher(broker, settings),
                database,
                settings,
                source=SOURCE,
                history=KafkaTickHistory(settings),
                redis=redis,
            )
    finally:
        await redis.aclose()
        await client.close()
