"""MongoDB adapter of the projector: conditional upserts and per-partition watermarks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bson.errors import InvalidDocument
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DocumentTooLarge,
    OperationFailure,
    PyMongoError,
)

from consumers.projector._rows import Positioned, Projection, Row, newest
from readmodels import ReadModel
from schemas import PermanentError, TransientError

WATERMARKS = "projector_watermarks"
NOT_IMPLEMENTED = 238
NAMESPACE_EXISTS = 48
DUPLICATE_KEY = 11000
SWAP_ATTEMPTS = 5


def _map_error(exc: PyMongoError) -> Exception:
    """A connection failure or an error MongoDB labels retryable is transient; a document
    MongoDB can never store is permanent (dead-lettered at once); anything else stays a plain
    handler failure (retried a few times, then dead-lettered)."""
    if isinstance(exc, ConnectionFailure) or any(
        exc.has_error_label(label) for label in ("RetryableWriteError", "TransientTransactionError")
    ):
        return TransientError(f"MongoDB unavailable: {exc}")
    if isinstance(exc, DocumentTooLarge | InvalidDocument):
        return PermanentError(f"MongoDB cannot store it: {exc}")
    return exc


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
        """Per row: insert it if the key is absent, else replace the stored one if older.

        Two ordered operations instead of one conditional upsert: a conditional upsert that finds
        a newer document fails with a duplicate key, which FerretDB reports in a shape pymongo
        cannot parse; this form never conflicts.
        """
        if not rows:
            return
        ops: list[UpdateOne] = []
        for r in rows:
            # Absent fields stand for None: FerretDB drops nulls on insert, so never write them.
            present = {k: v for k, v in r.doc.items() if v is not None}
            replace: dict[str, Any] = {"$set": present}
            absent = {k: "" for k, v in r.doc.items() if v is None}
            if absent:
                replace["$unset"] = absent
            ops.append(UpdateOne({"_id": r.key}, {"$setOnInsert": present}, upsert=True))
            ops.append(UpdateOne({"_id": r.key, "order": {"$lt": r.order}}, replace))
        try:
            await coll.bulk_write(ops, ordered=True)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            msg = f"projection write failed: {errors[0].get('errmsg') if errors else exc}"
            raise PermanentError(msg) from None
        except PyMongoError as exc:
            raise _map_error(exc) from None

    async def insert(self, coll: AsyncCollection[dict[str, Any]], rows: Sequence[Row]) -> None:
        """The same fold as :meth:`upsert` for rows whose keys are most likely absent (a replay
        filling a fresh collection): one unordered insert of them all, then :meth:`upsert` for
        the rows whose key was there already (a duplicate key).

        On FerretDB 1.24 (SQLite) an insert is the one write that does not read the whole
        collection: an update or a delete finds its document by ``_id`` without the ``_id``
        index, and a filter with more than ``_id`` is evaluated on every document, so ``upsert``
        costs O(collection) per row there (decision 0184).
        """
        if not rows:
            return
        docs = [{**{k: v for k, v in r.doc.items() if v is not None}, "_id": r.key} for r in rows]
        try:
            await coll.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            other = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            if other or not errors:
                msg = f"projection write failed: {other[0].get('errmsg') if other else exc}"
                raise PermanentError(msg) from None
            await self.upsert(coll, [rows[e["index"]] for e in errors])
        except PyMongoError as exc:
            raise _map_error(exc) from None

    async def advance(self, collection: str, topic: str, offsets: dict[int, int]) -> None:
        if not offsets:  # an empty topic: nothing read, nothing to record
            return
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
        """Replace ``target`` by ``source``.

        MongoDB does it atomically (renameCollection with dropTarget). FerretDB does not implement
        dropTarget, so there: rename the target aside, rename the source in, drop the old one. In
        the millisecond between the two renames a live writer may re-create the target; its
        rows are then folded into the source (max-fold, so nothing regresses) and we retry.
        """
        try:
            await self.db[source].rename(target, dropTarget=True)
        except OperationFailure as exc:
            if exc.code != NOT_IMPLEMENTED:
                msg = f"cannot swap {source} into {target}: {exc}"
                raise PermanentError(msg) from None
        except PyMongoError as exc:
            raise _map_error(exc) from None
        else:
            return
        aside = f"{target}__old_{source.rsplit('_', 1)[-1]}"
        try:
            if target in await self.db.list_collection_names(filter={"name": target}):
                await self.db[target].rename(aside)
            for _ in range(SWAP_ATTEMPTS):
                try:
                    await self.db[source].rename(target)
                    break
                except OperationFailure as exc:
                    if exc.code != NAMESPACE_EXISTS:
                        raise
                    intruder = f"{target}__late_{source.rsplit('_', 1)[-1]}"
                    await self.db[target].rename(intruder)
                    await self._fold_into(self.db[intruder], self.db[source])
                    await self.db[intruder].drop()
            else:
                msg = f"cannot swap {source} into {target}: it keeps being re-created"
                raise PermanentError(msg)
            await self.db[aside].drop()
        except OperationFailure as exc:
            msg = f"cannot swap {source} into {target}: {exc}"
            raise PermanentError(msg) from None
        except PyMongoError as exc:
            raise _map_error(exc) from None

    async def _fold_into(
        self, src: AsyncCollection[dict[str, Any]], dst: AsyncCollection[dict[str, Any]]
    ) -> None:
        rows = [Row(doc["_id"], doc.get("order", ""), doc) async for doc in src.find({})]
        await self.upsert(dst, rows)


def _collection_name(document: type[ReadModel]) -> str:
    settings = getattr(document, "Settings", None)
    name = getattr(settings, "name", None)
    return name if isinstance(name, str) else document.__name__.lower()
