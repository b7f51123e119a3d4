"""MongoDB adapter: one async client per process, a checked database handle, errors mapped.

Knows no read model: the projector passes its documents to have their indexes created (Beanie);
readers query through :class:`readmodels.ReadModels` and need no Beanie binding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from infra.settings import Settings
from schemas import TransientError

SERVER_SELECTION_MS = 5000


def mongo_client(settings: Settings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongodb_url, serverSelectionTimeoutMS=SERVER_SELECTION_MS, tz_aware=True
    )


async def open_database(
    settings: Settings,
    client: AsyncMongoClient[dict[str, Any]] | None = None,
    *,
    documents: Sequence[type[Document]] = (),
) -> AsyncDatabase[dict[str, Any]]:
    """Connect, check the server answers and, given ``documents``, create their collections'
    indexes (the projector's job); returns the database."""
    client = client or mongo_client(settings)
    db = client[settings.mongodb_database]
    try:
        await db.command("ping")
        if documents:
            await init_beanie(database=db, document_models=list(documents))
    except PyMongoError as exc:
        # pymongo appends its whole topology description; the first clause is the cause.
        reason = str(exc).split(", Timeout:", 1)[0].split(" (configured timeouts", 1)[0]
        msg = f"cannot reach MongoDB at {settings.mongodb_url}: {reason}"
        raise TransientError(msg) from None
    return db
