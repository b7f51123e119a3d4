"""MongoDB implementations of the agent's stores (pymongo's async API; FerretDB works too).

Documents: checkpoints ``{_id: request_id, step, state (JSON text), session_id, expires_at,
updated_at}``; cache entries ``{_id: key, value (JSON text), expires_at}``. Expired documents are
ignored on read and removed by a TTL index where the server has them. Saving a checkpoint is
one conditional upsert (compare-and-set on ``step``): a stale run's write hits the unique
``_id`` and is refused.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    PyMongoError,
    WTimeoutError,
)

from agent._state import AgentState
from schemas import PermanentError, TransientError

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_TTL_S: Final = 7 * 24 * 3600
Doc = dict[str, Any]


def _mapped(exc: PyMongoError) -> TransientError | PermanentError:
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return TransientError(f"mongodb unavailable: {exc}")
    return PermanentError(f"mongodb error: {exc}")


def _now() -> datetime:
    return datetime.now(UTC)


class _Expiring:
    """A collection whose documents carry ``expires_at``, with a TTL index made once."""

    def __init__(self, db: AsyncDatabase[Doc], collection: str) -> None:
        self.collection: AsyncCollection[Doc] = db[collection]
        self._indexed = False
        self._lock = asyncio.Lock()

    async def ready(self) -> AsyncCollection[Doc]:
        if not self._indexed:
            async with self._lock:
                if not self._indexed:
                    try:
                        await self.collection.create_index("expires_at", expireAfterSeconds=0)
                    except ConnectionFailure as exc:
                        raise _mapped(exc) from exc
                    except PyMongoError as exc:  # a server without TTL indexes: filter on read
                        log.info("no TTL index on %s: %s", self.collection.name, exc)
                    self._indexed = True
        return self.collection


class MongoCheckpointStore:
    """:class:`CheckpointStore` in a MongoDB collection (default ``agent_checkpoints``)."""

    def __init__(
        self,
        db: AsyncDatabase[Doc],
        *,
        collection: str = "agent_checkpoints",
        ttl_s: int = DEFAULT_CHECKPOINT_TTL_S,
    ) -> None:
        self._docs = _Expiring(db, collection)
        self.ttl_s = ttl_s

    async def load(self, request_id: str) -> AgentState | None:
        try:
            docs = await self._docs.ready()
            doc = await docs.find_one({"_id": request_id, "expires_at": {"$gt": _now()}})
        except PyMongoError as exc:
            raise _mapped(exc) from exc
        return None if doc is None else AgentState.model_validate_json(doc["state"])

    async def save(self, state: AgentState) -> bool:
        now = _now()
        try:
            docs = await self._docs.ready()
            await docs.update_one(
                {
                    "_id": state.request_id,
                    "$or": [{"step": {"$lt": state.step}}, {"expires_at": {"$lte": now}}],
                },
                {
                    "$set": {
                        "step": state.step,
                        "state": state.model_dump_json(),
                        "session_id": state.session_id,
                        "expires_at": now + timedelta(seconds=self.ttl_s),
                        "updated_at": now,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        except PyMongoError as exc:
            raise _mapped(exc) from exc
        return True

    async def delete(self, request_id: str) -> None:
        try:
            docs = await self._docs.ready()
            await docs.delete_one({"_id": request_id})
        except PyMongoError as exc:
            raise _mapped(exc) from exc


class MongoToolResultCache:
    """:class:`ToolResultCache` in a MongoDB collection (default ``agent_tool_cache``)."""

    def __init__(self, db: AsyncDatabase[Doc], *, collection: str = "agent_tool_cache") -> None:
        self._docs = _Expiring(db, collection)

    async def get(self, key: str) -> str | None:
        try:
            docs = await self._docs.ready()
            doc = await docs.find_one({"_id": key, "expires_at": {"$gt": _now()}})
        except PyMongoError as exc:
            raise _mapped(exc) from exc
        return None if doc is None else str(doc["value"])

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        expires = _now() + timedelta(seconds=max(1, ttl_s))
        try:
            docs = await self._docs.ready()
            await docs.update_one(
                {"_id": key}, {"$set": {"value": value, "expires_at": expires}}, upsert=True
            )
        except PyMongoError as exc:
            raise _mapped(exc) from exc
