"""MongoDB wiring: one async client per process and Beanie initialised with every read model."""

from __future__ import annotations

from typing import Any

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from consumers.projector import READ_MODELS
from infra.settings import Settings
from schemas import TransientError

SERVER_SELECTION_MS = 5000


def mongo_client(settings: Settings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongodb_url, serverSelectionTimeoutMS=SERVER_SELECTION_MS, tz_aware=True
    )


async def init_read_models(
    settings: Settings,
    client: AsyncMongoClient[dict[str, Any]] | None = None,
    documents: list[type[Document]] | None = None,
) -> AsyncDatabase[dict[str, Any]]:
    """Connect, check the server answers, and bind the Beanie documents; returns the database."""
    client = client or mongo_client(settings)
    db = client[settings.mongodb_database]
    try:
        await db.command("ping")
        await init_beanie(database=db, document_models=documents or list(READ_MODELS))
    except PyMongoError as exc:
        # pymongo appends its whole topology description; the first clause is the cause.
        reason = str(exc).split(", Timeout:", 1)[0].split(" (configured timeouts", 1)[0]
        msg = f"cannot reach MongoDB at {settings.mongodb_url}: {reason}"
        raise TransientError(msg) from None
    return db
