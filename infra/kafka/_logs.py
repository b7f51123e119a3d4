"""Reading a topic as a log, with a group-less consumer: a range of offsets per partition, a
compacted topic folded to the latest record per key, offsets by broker time, and a consumer
group's committed offsets. What components read to rebuild working state they lost (e.g. Redis
after a restart without persistence).

Records that do not decode as the topic's events are skipped (the live consumers dead-letter
them); a Kafka record with no value (a tombstone) removes its key from a fold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Final

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from infra.kafka._admin import offsets_consumer, partitions_of
from infra.kafka._consumer import Delivery
from infra.kafka._security import client_options
from infra.settings import Settings
from schemas import InvalidEvent, Topic, TransientError, codec_for

BATCH: Final = 2000


class KafkaLog:
    """One topic of the deployment read as a log (each call opens its own consumer)."""

    def __init__(self, settings: Settings, topic: Topic) -> None:
        self._settings = settings
        self.topic = topic
        self.name = topic.full_name(settings.topic_prefix)

    async def partitions(self) -> list[int]:
        async with offsets_consumer(self._settings) as consumer:
            return [tp.partition for tp in await partitions_of(consumer, self.name)]

    async def end_offsets(self) -> dict[int, int]:
        """The next offset of each partition (where a record published now would go)."""
        async with offsets_consumer(self._settings) as consumer:
            try:
                tps = await partitions_of(consumer, self.name)
                ends = await consumer.end_offsets(tps)
            except KafkaError as exc:
                msg = f"cannot read {self.name}: {exc}"
                raise TransientError(msg) from None
        return {tp.partition: off for tp, off in ends.items()}

    async def beginning_offsets(self) -> dict[int, int]:
        """The oldest offset still held on each partition (retention deletes older ones)."""
        async with offsets_consumer(self._settings) as consumer:
            try:
                tps = await partitions_of(consumer, self.name)
                firsts = await consumer.beginning_offsets(tps)
            except KafkaError as exc:
                msg = f"cannot read {self.name}: {exc}"
                raise TransientError(msg) from None
        return {tp.partition: off for tp, off in firsts.items()}

    async def offsets_at(self, ts_ms: int) -> dict[int, int]:
        """Per partition, the first offset whose broker time is at or after ``ts_ms`` (the end
        offset when there is none)."""
        async with offsets_consumer(self._settings) as consumer:
            try:
                tps = await partitions_of(consumer, self.name)
                ends = await consumer.end_offsets(tps)
                found = await consumer.offsets_for_times({tp: max(0, ts_ms) for tp in tps})
            except KafkaError as exc:
                msg = f"cannot read {self.name}: {exc}"
                raise TransientError(msg) from None
        return {tp.partition: (found[tp].offset if found.get(tp) else ends[tp]) for tp in tps}

    async def committed(self, group: str) -> dict[int, int]:
        """The committed offsets of consumer group ``group`` (unprefixed), partitions it never
        committed left out."""
        consumer = AIOKafkaConsumer(
            **client_options(self._settings),
            group_id=self._settings.group(group),
            enable_auto_commit=False,
            client_id="ixo-ops",
        )
        try:
            await consumer.start()
        except KafkaError as exc:
            msg = f"cannot reach Kafka: {exc}"
            raise TransientError(msg) from None
        try:
            out: dict[int, int] = {}
            for tp in await partitions_of(consumer, self.name):
                off = await consumer.committed(tp)
                if off is not None and off >= 0:
                    out[tp.partition] = off
        except KafkaError as exc:
            msg = f"cannot read the offsets of {group}: {exc}"
            raise TransientError(msg) from None
        finally:
            await consumer.stop()
        return out

    async def read(
        self,
        start: Mapping[int, int] | None = None,
        end: Mapping[int, int] | None = None,
    ) -> AsyncIterator[Delivery]:
        """Records of the partitions in ``start`` (default: every partition from its beginning)
        up to ``end`` (exclusive; default: each partition's end when called), in offset order
        per partition, decoded."""
        decode = codec_for(self.topic).decode
        async with offsets_consumer(self._settings) as consumer:
            try:
                tps = await partitions_of(consumer, self.name)
                if start is not None:
                    tps = [tp for tp in tps if tp.partition in start]
                ends = await consumer.end_offsets(tps)
                firsts = await consumer.beginning_offsets(tps)
                stop = {
                    tp: min(ends[tp], end.get(tp.partition, ends[tp]) if end else ends[tp])
                    for tp in tps
                }
                begin = {tp: max(firsts[tp], start[tp.partition] if start else 0) for tp in tps}
                todo = [tp for tp in tps if stop[tp] > begin[tp]]
                if not todo:
                    return
                consumer.assign(todo)
                for tp in todo:
                    consumer.seek(tp, begin[tp])
                remaining = set(todo)
                while remaining:
                    batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=BATCH)
                    for tp, records in batches.items():
                        for rec in records:
                            if rec.offset >= stop[tp] or rec.value is None:
                                continue
                            try:
                                event = decode(rec.value)
                            except InvalidEvent:
                                continue
                            yield Delivery(
                                event, rec.topic, rec.partition, rec.offset, rec.timestamp
                            )
                    for tp in list(remaining):
                        if await consumer.position(tp) >= stop[tp]:
                            remaining.discard(tp)
            except KafkaError as exc:
                msg = f"cannot read {self.name}: {exc}"
                raise TransientError(msg) from None

    async def latest(self) -> list[Delivery]:
        """A compacted topic folded: the last record of each key, in (partition, offset)
        order; a key whose last record is a tombstone is left out."""
        found: dict[tuple[int, bytes], Delivery | None] = {}
        async with offsets_consumer(self._settings) as consumer:
            try:
                tps = await partitions_of(consumer, self.name)
                ends = await consumer.end_offsets(tps)
                todo = [tp for tp in tps if ends[tp] > 0]
                if not todo:
                    return []
                consumer.assign(todo)
                await consumer.seek_to_beginning(*todo)
                decode = codec_for(self.topic).decode
                remaining = set(todo)
                while remaining:
                    batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=BATCH)
                    for tp, records in batches.items():
                        for rec in records:
                            if rec.offset >= ends[tp]:
                                continue
                            key = (rec.partition, rec.key or b"")
                            if rec.value is None:
                                found[key] = None
                                continue
                            try:
                                event = decode(rec.value)
                            except InvalidEvent:
                                continue
                            found[key] = Delivery(
                                event, rec.topic, rec.partition, rec.offset, rec.timestamp
                            )
                    for tp in list(remaining):
                        if await consumer.position(tp) >= ends[tp]:
                            remaining.discard(tp)
            except KafkaError as exc:
                msg = f"cannot read {self.name}: {exc}"
                raise TransientError(msg) from None
        alive = [d for d in found.values() if d is not None]
        return sorted(alive, key=lambda d: (d.partition, d.offset))
