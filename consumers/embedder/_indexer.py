"""The embedder's core: from a batch of events to durable points and ``indexed`` events.

For each batch: keep the last version of each doc id, chunk and plan every item (a document
over ``IXO_EMBED_MAX_CHUNKS`` fails the batch with a :class:`PermanentError` before anything is
written, so the consumer dead-letters that record alone), then encode and upsert in slices of
``upsert_batch`` points with the next slice's encoding overlapping the current slice's upsert,
then delete each item's points that are not in its new set (an edited document leaves no stale
chunk; a document now empty leaves none at all), then publish ``ixo.rag.document.indexed.v1``
for the documents. The consumer commits offsets after this returns (decision 0129).

Writes go to the collection the ``knowledge`` alias points at, checked on every batch: if it
was built by another model, nothing is written (:class:`ModelMismatch`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from consumers.embedder._chunks import Chunker
from consumers.embedder._plan import Item, PlannedDoc, item_of, plan
from consumers.embedder._types import (
    CollectionInfo,
    Encoder,
    ModelMismatch,
    Point,
    VectorStore,
)
from schemas import AnyEvent, RagDocumentIndexedV1

log = logging.getLogger(__name__)


class IndexedSink(Protocol):
    """Where ``indexed`` events go (Kafka in the app), each with the event that caused it."""

    async def publish(self, indexed: Sequence[tuple[RagDocumentIndexedV1, AnyEvent]]) -> None: ...


@dataclass(frozen=True, slots=True)
class WriteResult:
    items: int
    points: int
    """Distinct points written (a chunk repeated inside one document counts once)."""
    collection: str


def mismatch_message(live: CollectionInfo, model_id: str, revision: str) -> str:
    return (
        f"the live knowledge collection {live.name} was built by model {live.model}"
        f" (revision {live.revision}) but this embedder loads {model_id} (revision {revision});"
        " it will not mix vectors of two models: run `ixo replay knowledge` to build a"
        " collection with this model (or set IXO_EMBED_MODEL back)"
    )


class Indexer:
    """Chunk, embed, upsert, clean up, announce; see the module docstring."""

    def __init__(
        self,
        encoder: Encoder,
        store: VectorStore,
        chunker: Chunker,
        *,
        upsert_batch: int = 256,
        max_chunks: int = 4000,
        sink: IndexedSink | None = None,
    ) -> None:
        self.encoder = encoder
        self.store = store
        self.chunker = chunker
        self.upsert_batch = upsert_batch
        self.max_chunks = max_chunks
        self.sink = sink
        self.write_lock = asyncio.Lock()
        """Held by a live batch from the alias lookup to its last write; a replay holds it while
        it swaps the alias, so no live batch writes into the collection being retired."""

    async def live_collection(self) -> CollectionInfo:
        """The collection behind the alias, if this model built it; else :class:`ModelMismatch`
        (also when there is none: :meth:`ensure_live` creates the first)."""
        model = self.encoder.info
        live = await self.store.live()
        if live is None:
            msg = "there is no live knowledge collection yet (the embedder creates it at start)"
            raise ModelMismatch(msg)
        if not live.built_by(model):
            raise ModelMismatch(mismatch_message(live, model.id, model.revision))
        return live

    async def handle(self, events: Sequence[AnyEvent]) -> WriteResult:
        """Index a batch of consumed events into the live collection and announce documents."""
        causes: dict[str, AnyEvent] = {}
        items: list[Item] = []
        for event in events:
            item = item_of(event)
            if item is None:
                continue
            if item.doc_id in causes:
                items = [i for i in items if i.doc_id != item.doc_id]
            causes[item.doc_id] = event
            items.append(item)
        if not items:
            return WriteResult(0, 0, "")
        planned = self.plan(items)
        async with self.write_lock:
            live = await self.live_collection()
            written = await self.write(planned, live.name)
        if self.sink is not None:
            model = self.encoder.info
            indexed = [
                (
                    RagDocumentIndexedV1(
                        doc_id=doc.item.doc_id,
                        source=doc.item.origin,
                        chunks=len(doc.points),
                        model=model.id,
                        model_revision=model.revision,
                        vector_size=model.size,
                        collection=live.name,
                    ),
                    causes[doc.item.doc_id],
                )
                for doc in planned
                if doc.item.source == "document"
            ]
            if indexed:
                await self.sink.publish(indexed)
        return WriteResult(len(planned), written, live.name)

    def plan(self, items: Sequence[Item]) -> list[PlannedDoc]:
        model_id = self.encoder.info.id
        return [plan(i, self.chunker, model_id, max_chunks=self.max_chunks) for i in items]

    async def write(
        self, planned: Sequence[PlannedDoc], collection: str, *, fresh: bool = False
    ) -> int:
        """Encode and upsert every planned point into ``collection``, then (unless the
        collection is ``fresh``, i.e. being built from nothing) delete the stale points of these
        documents. Returns the points written."""
        points: list[Point] = []
        texts: list[str] = []
        for doc in planned:
            points.extend(doc.points)
            texts.extend(doc.texts)
        size = self.upsert_batch
        slices = [(i, min(i + size, len(points))) for i in range(0, len(points), size)]
        pending: asyncio.Task[NDArray[np.float32]] | None = None
        if slices:
            start, end = slices[0]
            pending = asyncio.ensure_future(self.encoder.encode(texts[start:end]))
        for n, (start, end) in enumerate(slices):
            assert pending is not None
            vectors = await pending
            if n + 1 < len(slices):
                s2, e2 = slices[n + 1]
                pending = asyncio.ensure_future(self.encoder.encode(texts[s2:e2]))
            try:
                await self.store.upsert(collection, points[start:end], vectors)
            except BaseException:
                if n + 1 < len(slices):
                    pending.cancel()
                raise
        if not fresh:
            await self.store.delete_stale(
                collection, [d.item.doc_id for d in planned], [p.id for p in points]
            )
        return len(points)
