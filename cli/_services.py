"""The service layer for one CLI command: a connected publisher, the read-model database and
the tick history, closed when the command ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from cli import _output as out
from cli._config import load_settings
from cli._kafka import connected_broker
from infra.kafka import EventPublisher, KafkaTickHistory
from infra.mongo import mongo_client, open_database
from infra.redis import redis_client
from infra.settings import Settings
from services import KnowledgeSearch, Receipt, Services

T = TypeVar("T")

SOURCE = "/cli"


@contextlib.asynccontextmanager
async def cli_services(
    settings: Settings, client_id: str, *, knowledge: KnowledgeSearch | None = None
) -> AsyncIterator[Services]:
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
                knowledge=knowledge,
            )
    finally:
        await redis.aclose()
        await client.close()


def call(client_id: str, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run one command's ``work`` on the service layer (settings from the environment)."""
    settings = load_settings()

    async def run() -> T:
        async with cli_services(settings, client_id) as svc:
            return await work(svc)

    return asyncio.run(run())


def print_receipt(receipt: Receipt, json_: bool) -> None:
    """Where a command's event landed (and what the user should know about it)."""
    if json_:
        out.emit_json(receipt.as_dict())
        return
    out.result(
        f"{receipt.event.type} {receipt.entity_id} -> "
        f"{receipt.topic}[{receipt.partition}]@{receipt.offset}"
    )
    for warning in receipt.warnings:
        out.note(f"warning: {warning}")
