"""MongoDB adapter of the projector: conditional upserts and per-partition watermarks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from beanie import Document
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure, PyMongoError

from consumers.projector._rows import Positioned, Projection, Row, newest
from schemas import PermanentError, TransientError

DUPLICATE_KEY = 11000
WATERMARKS = "projector_watermarks"


def _map_error(exc: PyMongoError) -> Exception:
    if isinstance(exc, ConnectionFailure):
        return TransientError(f"MongoDB unavailable: {exc}")
    return PermanentError(f"MongoDB error: {exc}")


class ProjectionStore:
    """Writes projection rows into a collection, guarded twice against going backwards:

    - a per-(collection, topic, partition) watermark skips records already applied;
    - each upsert only replaces a document whose ``order`` is older (max-fold), so a record
      applied twice, or by two writers, leaves the same document.
    """

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self._marks = db[WATERMARKS]

    async def watermarks(self, collection: str) -> dict[tuple[str, int], int]:
        out: dict[tuple[str, int], int] = {}
        try:
            async for doc in self._marks.find({"collection": collection}):
                out[doc["topic"], doc["partition"]] = doc["offset"]
        except PyMongoError as exc:
            raise _map_error(exc) from None
        return out

    async def apply(
        self,
        projection: Projection,
        items: Sequence[Positioned],
        *,
        topic: str,
        collection: str | None = None,
        use_watermarks: bool = True,
    ) -> int:
        """Apply a batch of one topic; returns how many records were new (not below a mark)."""
        name = collection or _collection_name(projection.document)
        if use_watermarks:
            marks = await self.watermarks(name)
            fresh = [i for i in items if i.offset > marks.get((topic, i.partition), -1)]
        else:
            fresh = list(items)
        if not fresh:
            return 0
        await self.upsert(self.db[name], newest(projection.rows(fresh)))
        top: dict[int, int] = defaultdict(lambda: -1)
        for item in fresh:
            top[item.partition] = max(top[item.partition], item.offset)
        await self.advance(name, topic, dict(top))
        return len(fresh)

    async def upsert(self, coll: AsyncCollection[dict[str, Any]], rows: Sequence[Row]) -> None:
        if not rows:
            return
        ops = [
            UpdateOne({"_id": r.key, "order": {"$lt": r.order}}, {"$set": r.doc}, upsert=True)
            for r in rows
        ]
        try:
            await coll.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            # A duplicate key means the stored document is newer: the guard did its job.
            errors = exc.details.get("writeErrors", [])
            real = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            if real or exc.details.get("writeConcernErrors"):
                msg = f"projection write failed: {(real or errors)[0].get('errmsg')}"
                raise PermanentError(msg) from None
        except PyMongoError as exc:
            raise _map_error(exc) from None

    async def advance(self, collection: str, topic: str, offsets: dict[int, int]) -> None:
        ops = [
            UpdateOne(
                {"_id": f"{collection}|{topic}|{p}"},
                {
                    "$max": {"offset": off},
                    "$set": {"collection": collection, "topic": topic, "partition": p},
                },
                upsert=True,
            )
            for p, off in offsets.items()
        ]
        try:
            await self._marks.bulk_write(ops, ordered=False)
        except PyMongoError as exc:
            raise _map_error(exc) from None

    async def drop_watermarks(self, collection: str) -> None:
        await self._marks.delete_many({"collection": collection})

    async def swap(self, source: str, target: str) -> None:
        """Atomically replace ``target`` by ``source`` (renameCollection with dropTarget)."""
        try:
            await self.db[source].rename(target, dropTarget=True)
        except OperationFailure as exc:
            msg = f"cannot swap {source} into {target}: {exc}"
            raise PermanentError(msg) from None
        except PyMongoError as exc:
            raise _map_error(exc) from None


def _collection_name(document: type[Document]) -> str:
    settings = getattr(document, "Settings", None)
    name = getattr(settings, "name", None)
    return name if isinstance(name, str) else document.__name__.lower()
