"""Rebuild a projection from its topic while the live projector keeps running.

``--from-beginning``: read every partition from the start into a fresh collection, swap it in
(renameCollection with dropTarget) once caught up with the end offsets taken at the start, then
re-apply whatever arrived meanwhile onto the live collection. The max-fold makes the live
projector's concurrent writes and this catch-up commute, so nothing is lost or regressed.
``--since``: re-apply the records since a time onto the live collection in place (a repair).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.projector._rows import Projection
from consumers.projector._store import ProjectionStore, _collection_name
from schemas import AnyEvent, InvalidEvent, codec_for

Progress = Callable[[int, int], None]
"""Called with (records done, records to do) as a replay advances."""

BATCH = 2000


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
        on_batch: Callable[[list[_Item]], Awaitable[None]],
    ) -> None:
        """Consume [start, end) of every partition, handing decoded batches to ``on_batch``."""
        codec = codec_for(self.projection.topic)
        todo = [tp for tp in end if end[tp] > start.get(tp, 0)]
        self.consumer.assign(todo)
        for tp in todo:
            self.consumer.seek(tp, start.get(tp, 0))
        remaining = set(todo)
        while remaining:
            batches = await self.consumer.getmany(*remaining, timeout_ms=1000, max_records=BATCH)
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
                await on_batch(items)
            if self.progress is not None:
                self.progress(self.done, self.total)


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
) -> ReplayResult:
    """Replay ``topic`` into ``projection``; ``consumer`` is started and group-less."""
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

    def writer(collection: str) -> Callable[[list[_Item]], Awaitable[None]]:
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
    indexes = list(getattr(getattr(projection.document, "Settings", None), "indexes", []) or [])
    if indexes:
        await store.db[fresh].create_indexes(indexes)
    else:
        await store.db.create_collection(fresh)
    await reader.read(start, end, writer(fresh))
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
