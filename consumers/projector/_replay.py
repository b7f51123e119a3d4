"""Rebuild a projection from its topic while the live projector keeps running.

``--from-beginning``: read every partition from the start into a fresh collection, swap it in
(renameCollection with dropTarget) once caught up with the end offsets taken at the start, then
re-apply whatever arrived meanwhile onto the live collection. The max-fold makes the live
projector's concurrent writes and this catch-up commute, so nothing is lost or regressed.
``--since``: re-apply the records since a time onto the live collection in place (a repair).

Filling the fresh collection is a bulk load (decision 0184): rows are folded in memory over a
window of recently met keys and inserted as they leave it, the next batch is read and decoded
while the previous one is written, and the read model's indexes are built once it is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.projector._rows import Projection, Row
from consumers.projector._store import ProjectionStore, _collection_name
from schemas import AnyEvent, InvalidEvent, codec_for

Progress = Callable[[int, int], None]
"""Called with (records done, records to do) as a replay advances."""

BATCH = 2000
WINDOW = 10_000
"""Rows a fresh load holds back (the newest per key) before inserting them: a key met again
within this many other keys is folded in memory, not written twice."""

Write = Callable[[list["_Item"]], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class _Item:
    event: AnyEvent
    partition: int
    offset: int


@dataclass(frozen=True)
class ReplayResult:
    projection: str
    collection: str
    records: int
    invalid: int
    seconds: float
    swapped: bool

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _RangeReader:
    """Reads offset ranges of every partition and hands decoded batches on, with progress."""

    consumer: AIOKafkaConsumer
    projection: Projection
    progress: Progress | None
    total: int = 0
    done: int = 0
    invalid: int = 0

    async def read(
        self,
        start: dict[TopicPartition, int],
        end: dict[TopicPartition, int],
        on_batch: Write,
    ) -> None:
        """Consume [start, end) of every partition, handing decoded batches to ``on_batch``.

        One batch is written while the next is read and decoded (the database and this process
        work at the same time); batches are handed on one after the other, never two at once.
        """
        codec = codec_for(self.projection.topic)
        todo = [tp for tp in end if end[tp] > start.get(tp, 0)]
        self.consumer.assign(todo)
        for tp in todo:
            self.consumer.seek(tp, start.get(tp, 0))
        remaining = set(todo)
        writing: asyncio.Task[None] | None = None
        try:
            while remaining:
                batches = await self.consumer.getmany(
                    *remaining, timeout_ms=1000, max_records=BATCH
                )
                items: list[_Item] = []
                for tp, records in batches.items():
                    for rec in _until(records, end[tp]):
                        self.done += 1
                        try:
                            event = codec.decode(rec.value or b"")
                        except InvalidEvent:
                            self.invalid += 1  # the live consumer dead-lettered it; replay skips it
                            continue
                        items.append(_Item(event, rec.partition, rec.offset))
                    if await self.consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
                if items:
                    if writing is not None:
                        await writing
                    writing = asyncio.create_task(on_batch(items))
                if self.progress is not None:
                    self.progress(self.done, self.total)
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing


class _FreshLoad:
    """Fills a collection that only this replay writes (its fresh one, not yet swapped in).

    Rows are folded, newest per key, in a window of the keys met last; the least recently met
    leave it first and are inserted (:meth:`ProjectionStore.insert`). A key met again after its
    row was inserted costs a conditional upsert, as in the live projector; one met again within
    the window (a redelivered event, a symbol's next tick) costs nothing.
    """

    def __init__(
        self, store: ProjectionStore, projection: Projection, collection: str, window: int
    ) -> None:
        self._store = store
        self._projection = projection
        self._coll = store.db[collection]
        self._window = window
        self._held: OrderedDict[str, Row] = OrderedDict()

    async def add(self, items: list[_Item]) -> None:
        held = self._held
        for row in self._projection.rows(items):
            seen = held.get(row.key)
            if seen is None or row.order > seen.order:
                held[row.key] = row
            held.move_to_end(row.key)
        leaving = [held.popitem(last=False)[1] for _ in range(len(held) - self._window)]
        await self._store.insert(self._coll, leaving)

    async def finish(self) -> None:
        rows = list(self._held.values())
        self._held.clear()
        for first in range(0, len(rows), BATCH):
            await self._store.insert(self._coll, rows[first : first + BATCH])


def _until(
    records: Sequence[ConsumerRecord[bytes, bytes]], stop: int
) -> list[ConsumerRecord[bytes, bytes]]:
    return [r for r in records if r.offset < stop]


async def replay(
    store: ProjectionStore,
    projection: Projection,
    consumer: AIOKafkaConsumer,
    topic: str,
    *,
    since: datetime | None = None,
    progress: Progress | None = None,
    window: int = WINDOW,
) -> ReplayResult:
    """Replay ``topic`` into ``projection``; ``consumer`` is started and group-less.

    ``window``: rows a rebuild from the beginning folds in memory before inserting them.
    """
    started = time.perf_counter()
    parts = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    end = await consumer.end_offsets(tps)
    if since is None:
        start = await consumer.beginning_offsets(tps)
    else:
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        start = {tp: (found[tp].offset if found.get(tp) else end[tp]) for tp in tps}
    live = _collection_name(projection.document)
    reader = _RangeReader(consumer, projection, progress)
    reader.total = sum(end[tp] - start[tp] for tp in tps)

    def writer(collection: str) -> Write:
        async def write(items: list[_Item]) -> None:
            await store.apply(
                projection, items, topic=topic, collection=collection, use_watermarks=False
            )

        return write

    if since is not None:
        await reader.read(start, end, writer(live))
        return ReplayResult(
            projection.name,
            live,
            reader.done,
            reader.invalid,
            time.perf_counter() - started,
            swapped=False,
        )

    fresh = f"{live}__replay_{int(time.time() * 1000)}"
    await store.drop_watermarks(fresh)
    await store.db.create_collection(fresh)
    load = _FreshLoad(store, projection, fresh, window)
    await reader.read(start, end, load.add)
    await load.finish()
    # Built once over the full collection: cheaper than keeping them up to date while filling.
    indexes = list(getattr(getattr(projection.document, "Settings", None), "indexes", []) or [])
    if indexes:
        await store.db[fresh].create_indexes(indexes)
    await store.swap(fresh, live)
    await store.drop_watermarks(fresh)
    # Records that arrived while we rebuilt: apply them onto the live collection too.
    end2 = await consumer.end_offsets(tps)
    reader.total += sum(end2[tp] - end[tp] for tp in tps)
    await reader.read(end, end2, writer(live))
    await store.advance(live, topic, {tp.partition: end2[tp] - 1 for tp in tps if end2[tp] > 0})
    return ReplayResult(
        projection.name,
        live,
        reader.done,
        reader.invalid,
        time.perf_counter() - started,
        swapped=True,
    )
