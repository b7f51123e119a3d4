"""Past ticks from ``ixo.market.ticks`` for the backtest: a group-less ``AIOKafkaConsumer``
finds the symbol's partition, looks the time window up by broker time and reads it once (the
``TickHistory`` Protocol of the rule engine and of the service layer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from infra.kafka._admin import offsets_consumer
from infra.kafka._consumer import Delivery
from infra.settings import Settings
from schemas import MARKET_TICKS, InvalidEvent, TransientError, codec_for

BATCH: Final = 2000
LATE_SLACK: Final = timedelta(minutes=1)
"""Records are found by broker time; a tick's exchange time may lag it by this much."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


def _ms(ts: datetime) -> int:
    """Kafka time of ``ts``; before the epoch is the epoch (Kafka refuses negative times)."""
    return max(0, (ts - _EPOCH) // _MS)


def partition_for(symbol: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as every producer of ours uses)
    puts a symbol's ticks in."""
    return int(murmur2(symbol.encode()) & 0x7FFFFFFF) % partitions


class KafkaTickHistory:
    """The deployment's ``ixo.market.ticks`` as a tick history: each :meth:`ticks` call reads
    with its own group-less consumer (so one instance serves concurrent backtests)."""

    def __init__(self, settings: Settings, *, partitions: Sequence[int] | None = None) -> None:
        self._settings = settings
        self._topic = MARKET_TICKS.full_name(settings.topic_prefix)
        self._partitions = partitions

    async def ticks(
        self, symbol: str, *, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Delivery]:
        """Ticks of ``symbol`` from broker time ``since`` up to exchange time ``until``
        (default: the end of the topic when called), in offset order.

        Only the symbol's partition is read (``partitions`` given to the constructor overrides
        that). Records that are not valid ticks are skipped (the live consumer dead-letters
        them). Kafka errors become :class:`TransientError`.
        """
        async with offsets_consumer(self._settings) as consumer:
            try:
                async for delivery in read_ticks(
                    consumer,
                    self._topic,
                    symbol,
                    since=since,
                    until=until,
                    partitions=self._partitions,
                ):
                    yield delivery
            except KafkaError as exc:
                msg = f"cannot read {self._topic}: {exc}"
                raise TransientError(msg) from None


async def read_ticks(
    consumer: AIOKafkaConsumer,
    topic: str,
    symbol: str,
    *,
    since: datetime,
    until: datetime | None = None,
    partitions: Sequence[int] | None = None,
) -> AsyncIterator[Delivery]:
    """Ticks of ``symbol`` on ``topic`` from broker time ``since`` up to exchange time
    ``until`` (default: the end of the topic when called), in offset order; ``consumer`` is
    started and group-less, and is assigned and sought here."""
    await consumer._client.force_metadata_update()  # topics created after the consumer started
    known = sorted(consumer.partitions_for_topic(topic) or ())
    if not known:
        return
    chosen = partitions if partitions is not None else [partition_for(symbol, len(known))]
    tps = [TopicPartition(topic, p) for p in chosen]
    end = await consumer.end_offsets(tps)
    if until is not None:
        later = await consumer.offsets_for_times({tp: _ms(until + LATE_SLACK) for tp in tps})
        end = {tp: (later[tp].offset if later.get(tp) else end[tp]) for tp in tps}
    found = await consumer.offsets_for_times({tp: _ms(since) for tp in tps})
    start = {tp: (found[tp].offset if found.get(tp) else end[tp]) for tp in tps}
    todo = [tp for tp in tps if end[tp] > start[tp]]
    if not todo:
        return
    consumer.assign(todo)
    for tp in todo:
        consumer.seek(tp, start[tp])
    decode = codec_for(MARKET_TICKS).decode
    key = symbol.encode()
    until_ms = _ms(until) if until is not None else None
    remaining = set(todo)
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=BATCH)
        for tp, records in batches.items():
            for rec in records:
                if rec.offset >= end[tp] or rec.key != key:
                    continue
                try:
                    event = decode(rec.value or b"")
                except InvalidEvent:
                    continue
                if until_ms is not None and _ms(event.data.ts) > until_ms:
                    continue
                yield Delivery(event, rec.topic, rec.partition, rec.offset, rec.timestamp)
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)


@asynccontextmanager
async def tick_history(settings: Settings) -> AsyncIterator[KafkaTickHistory]:
    """A :class:`KafkaTickHistory` of the deployment's ticks topic for the block (each read
    opens and closes its own consumer, so nothing is held between reads)."""
    yield KafkaTickHistory(settings)
