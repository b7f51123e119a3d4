"""``ixo replay knowledge``: rebuild the knowledge base into a new collection, check it, swap.

1. Take the end offsets of ``ixo.social.posts`` and ``ixo.rag.documents``, read both topics up
   to them and keep the last version of every post and document.
2. Create a new collection named after the model (and the next sequence number), index every
   item into it (same chunking and point ids as the live path; no ``indexed`` events).
3. Check it: its point count must equal the planned chunk count; when the live collection was
   built by the same model, recall@10 over a sample of stored queries (the live collection's
   top 10 as the reference) must reach ``min_recall``, else the new collection is dropped and
   the alias left alone (``force`` skips the recall verdict, not the count).
4. Swap the alias in one operation (delete + create) while holding the indexer's write lock,
   then index what arrived on the topics meanwhile into the new collection (the live consumer
   may have written it into the old one).
5. Keep the previous collection (the way back) and drop older ones; ``drop_old`` drops the
   previous one too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from consumers.embedder._collections import next_name, sequence_of
from consumers.embedder._indexer import Indexer
from consumers.embedder._plan import DocumentTooLarge, Item, PlannedDoc, item_of, latest_items
from consumers.embedder._types import CollectionInfo, QuerySamples, ReplayFailed
from schemas import AnyEvent

log = logging.getLogger(__name__)

Offsets = dict[tuple[str, int], int]
"""(topic, partition) -> offset."""

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total): phases ``read``, ``index``, ``check``, ``catch-up``."""

INDEX_BATCH = 128
RECALL_K = 10
RECALL_QUERIES = 50


class EventSource(Protocol):
    """The topics a replay reads (Kafka in the app)."""

    async def ends(self) -> Offsets: ...

    async def count(self, start: Offsets | None, end: Offsets) -> int: ...

    def read(self, start: Offsets | None, end: Offsets) -> AsyncIterator[Sequence[AnyEvent]]:
        """Decoded events of ``[start, end)`` of every partition (``None``: the beginning), in
        batches; records that do not decode are skipped (the live consumer dead-lettered them)."""
        ...


@dataclass
class ReplayReport:
    collection: str
    previous: str | None
    model: str
    revision: str
    records: int = 0
    items: int = 0
    points: int = 0
    skipped: int = 0
    """Documents over ``IXO_EMBED_MAX_CHUNKS`` (dead-lettered by the live consumer too)."""
    recall: float | None = None
    queries: int = 0
    caught_up: int = 0
    swapped: bool = False
    dropped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "collection": self.collection,
            "previous": self.previous,
            "model": self.model,
            "revision": self.revision,
            "records": self.records,
            "items": self.items,
            "points": self.points,
            "skipped": self.skipped,
            "recall": self.recall,
            "queries": self.queries,
            "caught_up": self.caught_up,
            "swapped": self.swapped,
            "dropped": self.dropped,
            "seconds": round(self.seconds, 3),
        }


def _quiet(_phase: str, _done: int, _total: int) -> None:
    return None


class KnowledgeReplay:
    """One rebuild (see the module docstring)."""

    def __init__(
        self,
        indexer: Indexer,
        source: EventSource,
        samples: QuerySamples | None,
        *,
        min_recall: float,
        force: bool = False,
        drop_old: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.indexer = indexer
        self.store = indexer.store
        self.source = source
        self.samples = samples
        self.min_recall = min_recall
        self.force = force
        self.drop_old = drop_old
        self.progress = progress or _quiet

    async def run(self) -> ReplayReport:
        started = time.perf_counter()
        model = self.indexer.encoder.info
        alias = self.store.alias
        previous = await self.store.live()
        existing = [c.name for c in await self.store.collections()]
        target = next_name(alias, model, existing)
        report = ReplayReport(target, previous.name if previous else None, model.id, model.revision)
        ends = await self.source.ends()
        items = await self._read(ends, report)
        await self.store.create(target, model)
        try:
            await self._index(items, target, report)
            await self._check(previous, target, report)
            async with self.indexer.write_lock:
                await self.store.point_alias(target)
                report.swapped = True
                later = await self.source.ends()
        except BaseException:
            if not report.swapped:
                await self.store.drop(target)
            raise
        await self._catch_up(ends, later, target, report)
        await self._retire(alias, target, previous, report)
        report.seconds = time.perf_counter() - started
        log.info("knowledge replayed", extra=report.as_dict())
        return report

    async def _read(self, ends: Offsets, report: ReplayReport) -> list[Item]:
        total = await self.source.count(None, ends)
        latest: dict[str, Item] = {}
        self.progress("read", 0, total)
        async for events in self.source.read(None, ends):
            for event in events:
                item = item_of(event)
                if item is not None:
                    latest.pop(item.doc_id, None)
                    latest[item.doc_id] = item
            report.records += len(events)
            self.progress("read", report.records, total)
        report.items = len(latest)
        return list(latest.values())

    def _plan(self, items: Sequence[Item], report: ReplayReport) -> list[PlannedDoc]:
        planned: list[PlannedDoc] = []
        for item in items:
            try:
                planned.extend(self.indexer.plan([item]))
            except DocumentTooLarge:
                report.skipped += 1
        return planned

    async def _index(self, items: Sequence[Item], target: str, report: ReplayReport) -> None:
        self.progress("index", 0, len(items))
        for start in range(0, len(items), INDEX_BATCH):
            batch = items[start : start + INDEX_BATCH]
            planned = self._plan(batch, report)
            report.points += await self.indexer.write(planned, target, fresh=True)
            self.progress("index", start + len(batch), len(items))

    async def _check(
        self, previous: CollectionInfo | None, target: str, report: ReplayReport
    ) -> None:
        count = await self.store.count(target)
        if count != report.points:
            msg = (
                f"the rebuilt collection {target} holds {count} points but {report.points} were"
                " planned; the alias was not moved"
            )
            raise ReplayFailed(msg)
        model = self.indexer.encoder.info
        if previous is None or not previous.built_by(model) or self.samples is None:
            return
        queries = await self.samples.recent(RECALL_QUERIES)
        report.queries = len(queries)
        if not queries:
            return
        total = 0.0
        counted = 0
        for n, query in enumerate(queries):
            self.progress("check", n, len(queries))
            vector = (await self.indexer.encoder.encode([query]))[0]
            old = await self.store.search(previous.name, vector, k=RECALL_K, filters=None)
            new = await self.store.search(target, vector, k=RECALL_K, filters=None)
            if not old:
                continue
            expected = {pid for pid, _, _ in old}
            total += len(expected & {pid for pid, _, _ in new}) / len(expected)
            counted += 1
        self.progress("check", len(queries), len(queries))
        if counted == 0:
            return
        report.recall = total / counted
        if report.recall < self.min_recall and not self.force:
            msg = (
                f"recall@{RECALL_K} of {target} against {previous.name} is"
                f" {report.recall:.3f} on {counted} stored queries, below"
                f" {self.min_recall:.2f} (were records dropped by retention?); the alias was not"
                " moved (--force swaps anyway)"
            )
            raise ReplayFailed(msg)

    async def _catch_up(
        self, ends: Offsets, later: Offsets, target: str, report: ReplayReport
    ) -> None:
        total = await self.source.count(ends, later)
        if total == 0:
            return
        self.progress("catch-up", 0, total)
        async for events in self.source.read(ends, later):
            planned = self._plan(latest_items(events), report)
            async with self.indexer.write_lock:
                await self.indexer.write(planned, target)
            report.caught_up += len(events)
            self.progress("catch-up", report.caught_up, total)

    async def _retire(
        self, alias: str, target: str, previous: CollectionInfo | None, report: ReplayReport
    ) -> None:
        keep = {target}
        if previous is not None and not self.drop_old:
            keep.add(previous.name)
        for collection in await self.store.collections():
            name = collection.name
            if name not in keep and sequence_of(alias, name) is not None:
                await self.store.drop(name)
                report.dropped.append(name)
