"""The Kafka adapter of the replay's :class:`EventSource`: offset ranges of the posts and
documents topics read with a started, group-less ``AIOKafkaConsumer``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.embedder._replay import Offsets
from schemas import AnyEvent, EventCodec, InvalidEvent

READ_BATCH = 2000


class KafkaEventSource:
    """``topics``: Kafka topic name -> the codec of its catalogue entry."""

    def __init__(self, consumer: AIOKafkaConsumer, topics: dict[str, EventCodec]) -> None:
        self._consumer = consumer
        self._codecs = topics
        self.invalid = 0

    async def _partitions(self) -> list[TopicPartition]:
        tps: list[TopicPartition] = []
        for topic in self._codecs:
            parts = self._consumer.partitions_for_topic(topic)
            if parts is None:
                await self._consumer._client.force_metadata_update()
                parts = self._consumer.partitions_for_topic(topic)
            tps.extend(TopicPartition(topic, p) for p in sorted(parts or ()))
        return tps

    async def ends(self) -> Offsets:
        tps = await self._partitions()
        found = await self._consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): int(found[tp]) for tp in tps}

    async def _starts(self, start: Offsets | None, end: Offsets) -> Offsets:
        if start is not None:
            return start
        tps = [TopicPartition(t, p) for t, p in end]
        found = await self._consumer.beginning_offsets(tps)
        return {(tp.topic, tp.partition): int(found[tp]) for tp in tps}

    async def count(self, start: Offsets | None, end: Offsets) -> int:
        begin = await self._starts(start, end)
        return sum(max(0, end[k] - begin.get(k, end[k])) for k in end)

    async def read(self, start: Offsets | None, end: Offsets) -> AsyncIterator[Sequence[AnyEvent]]:
        begin = await self._starts(start, end)
        todo = [
            TopicPartition(t, p) for (t, p), stop in end.items() if stop > begin.get((t, p), stop)
        ]
        if not todo:
            return
        self._consumer.assign(todo)
        for tp in todo:
            self._consumer.seek(tp, begin[(tp.topic, tp.partition)])
        remaining = set(todo)
        while remaining:
            fetched = await self._consumer.getmany(
                *remaining, timeout_ms=1000, max_records=READ_BATCH
            )
            events: list[AnyEvent] = []
            for tp, records in fetched.items():
                stop = end[(tp.topic, tp.partition)]
                codec = self._codecs[tp.topic]
                for record in records:
                    if record.offset >= stop:
                        continue
                    try:
                        events.append(codec.decode(record.value or b""))
                    except InvalidEvent:
                        self.invalid += 1
            for tp in list(remaining):
                if await self._consumer.position(tp) >= end[(tp.topic, tp.partition)]:
                    remaining.discard(tp)
            if events:
                yield events
