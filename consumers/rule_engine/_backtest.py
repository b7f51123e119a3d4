"""Backtest: run one rule (saved or draft) over past ticks with the live engine's matching code,
and report when it would have fired and why, without publishing anything.

:func:`backtest` takes any iterable of positioned ticks; :func:`read_ticks` reads them from the
ticks topic for a time range with a group-less ``AIOKafkaConsumer`` the caller starts (the CLI and
the gateway get one from ``consumers.rule_engine.app.backtest_history``, which does it all).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2
from pydantic import BaseModel, ConfigDict

from consumers.rule_engine._book import Book
from consumers.rule_engine._matching import (
    FRESH,
    RulePayload,
    RuleSpec,
    TickPoint,
    explain,
    to_ms,
)
from consumers.rule_engine._tape import Tape
from consumers.rule_engine._types import Positioned
from schemas import MARKET_TICKS, AlertTriggeredV1, AnyEvent, InvalidEvent, codec_for

WARMUP_S: Final = 300
"""Ticks read before ``since`` to learn the previous price (crossings) when the rule has no
longer pct_change window."""
BATCH: Final = 2000
LATE_SLACK_MS: Final = 60_000
"""Records are found by broker time; a tick's exchange time may lag it by this much."""


class BacktestMatch(BaseModel):
    """When the rule would have fired, the alert it would have published, and why."""

    model_config = ConfigDict(frozen=True)

    alert: AlertTriggeredV1
    reason: str


@dataclass(frozen=True, slots=True)
class TickRecord:
    """A tick read from Kafka and where it was (satisfies :class:`Positioned`)."""

    event: AnyEvent
    topic: str
    partition: int
    offset: int


async def _each(
    ticks: Iterable[Positioned] | AsyncIterable[Positioned],
) -> AsyncIterator[Positioned]:
    if isinstance(ticks, AsyncIterable):
        async for item in ticks:
            yield item
    else:
        for item in ticks:
            yield item


async def backtest(
    rule: RulePayload | RuleSpec,
    ticks: Iterable[Positioned] | AsyncIterable[Positioned],
    *,
    rule_version: int | None = None,
    since: datetime | None = None,
) -> list[BacktestMatch]:
    """Run ``rule`` over ``ticks`` (in topic order) from a fresh, armed state.

    Ticks of other symbols are skipped. Ticks before ``since`` (exchange time) only warm up the
    symbol's previous price and pct_change history; the rule sees the ones from ``since`` on.
    ``rule_version`` defaults to the spec's version, or 0 (a draft) for a payload.
    """
    spec = rule if isinstance(rule, RuleSpec) else RuleSpec.of(rule)
    if rule_version is not None:
        spec = dataclasses.replace(spec, version=rule_version)
    tape = Tape(spec.symbol, (spec.window_s,) if spec.window_s else ())
    book = Book(tape, [(spec, FRESH)])
    start_ms = to_ms(since) if since is not None else None
    out: list[BacktestMatch] = []
    async for item in _each(ticks):
        if item.event.subject != spec.symbol:
            continue
        tick = TickPoint.of(item)
        if start_ms is not None and tick.ts_ms < start_ms:
            tape.advance(tick)
            continue
        for match in book.apply(tick):
            alert = match.alert()
            out.append(BacktestMatch(alert=alert, reason=explain(alert)))
    return out


def partition_for(symbol: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as every producer of ours uses)
    puts a symbol's ticks in."""
    return int(murmur2(symbol.encode()) & 0x7FFFFFFF) % partitions


async def read_ticks(
    consumer: AIOKafkaConsumer,
    topic: str,
    symbol: str,
    *,
    since: datetime,
    until: datetime | None = None,
    partitions: Sequence[int] | None = None,
) -> AsyncIterator[TickRecord]:
    """Ticks of ``symbol`` on ``topic`` from broker time ``since`` up to ``until`` (default:
    the end of the topic when called), in offset order; ``consumer`` is started and group-less.

    Only the symbol's partition is read (``partitions`` overrides it). Records that are not
    valid ticks are skipped (the live consumer dead-letters them).
    """
    await consumer._client.force_metadata_update()  # topics created after the consumer started
    known = sorted(consumer.partitions_for_topic(topic) or ())
    if not known:
        return
    chosen = partitions if partitions is not None else [partition_for(symbol, len(known))]
    tps = [TopicPartition(topic, p) for p in chosen]
    end = await consumer.end_offsets(tps)
    if until is not None:
        later = await consumer.offsets_for_times({tp: to_ms(until) + LATE_SLACK_MS for tp in tps})
        end = {tp: (later[tp].offset if later.get(tp) else end[tp]) for tp in tps}
    found = await consumer.offsets_for_times({tp: to_ms(since) for tp in tps})
    start = {tp: (found[tp].offset if found.get(tp) else end[tp]) for tp in tps}
    todo = [tp for tp in tps if end[tp] > start[tp]]
    if not todo:
        return
    consumer.assign(todo)
    for tp in todo:
        consumer.seek(tp, start[tp])
    decode = codec_for(MARKET_TICKS).decode
    key = symbol.encode()
    until_ms = to_ms(until) if until is not None else None
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
                if until_ms is not None and to_ms(event.data.ts) > until_ms:
                    continue
                yield TickRecord(event, rec.topic, rec.partition, rec.offset)
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)


async def backtest_range(
    consumer: AIOKafkaConsumer,
    topic: str,
    rule: RulePayload | RuleSpec,
    *,
    since: datetime,
    until: datetime | None = None,
    rule_version: int | None = None,
) -> list[BacktestMatch]:
    """Backtest ``rule`` over the ticks of its symbol on ``topic`` between ``since`` and
    ``until`` (exchange time). Reads ``window_s`` (at least :data:`WARMUP_S`) before ``since``
    to warm up the previous price and the pct_change history."""
    spec = rule if isinstance(rule, RuleSpec) else RuleSpec.of(rule)
    warmup = timedelta(seconds=max(WARMUP_S, spec.window_s or 0))
    ticks = read_ticks(consumer, topic, spec.symbol, since=since - warmup, until=until)
    return await backtest(spec, ticks, rule_version=rule_version, since=since)
