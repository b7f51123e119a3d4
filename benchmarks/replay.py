"""Rebuilding the ``alerts`` read model from its topic: events/s of ``ixo replay alerts
--from-beginning`` against a raw drain of the same topic (issue 15: 1M events, aim < 60 s).

    python -m benchmarks.replay [--events N]

Setup: ``--events`` (default 1,000,000) valid ``ixo.alert.triggered.v1`` CloudEvents on
``ixo.alerts.matches`` as the rule engine publishes them (key = user id, structured mode, helper
headers): 100 rules per 1,000 events (at least 1,000), five rules per user, 200 symbols, every
condition kind. One event in 100 repeats the match published 37 events before it with a new
event id (a redelivered match, near its original as an outbox re-publish is), so the read model
holds 1 % fewer documents than there are events. The values are encoded once per template
(1,000 of them) and only the ids vary; they go out through a raw aiokafka producer (idempotent,
acks=all, no compression, as ours) in full 1 MB batches, one in flight per partition. The fill
rate is printed.

Baseline: a group-less aiokafka consumer assigned to every partition, seeking to the beginning
and draining with ``getmany`` up to the end offsets; nothing is decoded.

Ours: ``consumers.projector.replay`` of the ``alerts`` projection from the beginning (what
``ixo replay alerts --from-beginning`` runs: a fresh collection, every record decoded by the
topic's codec into the typed event, folded, written, indexed, swapped in), with its progress
printed every 10 %. Then the live ``alerts`` collection must hold exactly one document per
distinct ``match_id`` and sampled matches their newest event: a broken replay fails instead of
reporting a rate. The process tunes its garbage collector first, as every service does
(``infra.runtime.tune_gc``; decision 0010): it applies to both paths.

Against a fresh local stack (FerretDB on SQLite, decision 0184 for what that costs), or the
services of ``IXO_*`` with ``IXO_BENCH_STACK=external``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks._stack import bench_settings, result_line
from consumers.projector import PROJECTIONS, ProjectionStore, replay
from infra.kafka import (
    admin_client,
    client_options,
    ensure_topics,
    offsets_consumer,
    partition_for,
    record_headers,
    topic_partitions,
)
from infra.mongo import mongo_client, open_database
from infra.runtime import tune_gc
from infra.settings import Settings
from readmodels import READ_MODELS
from schemas import ALERT_MATCHES, AlertTriggeredV1, CloudEvent, Condition, encode

AIM_S = 60.0
AIM_EVENTS = 1_000_000
TEMPLATES = 1000
SYMBOLS = [f"B{n:03d}USDT" for n in range(200)]
RULES_PER_USER = 5
REPEAT_EVERY = 100
"""Event ``i`` with ``i % REPEAT_EVERY == REPEAT_EVERY - 1`` repeats the match of ``i - LAG``."""
REPEAT_LAG = 37
MAX_BATCH_BYTES = 1024 * 1024
DRAIN_RECORDS = 2000
KINDS = ("above", "below", "crosses_above", "crosses_below", "pct_change")

# Placeholders put into each template, then replaced per event (valid ids, so the template
# validates as an AlertTriggeredV1 when it is built).
_SLOTS = {
    "eid": "SLOTEVENTID00000",
    "mid": "SLOTMATCHID00000",
    "rid": "SLOTRULEID000000",
    "uid": "SLOTUSERID000000",
    "tid": "SLOTTICKID000000",
}


def _uuid(kind: int, n: int) -> str:
    """A UUID-shaped id (version 7 nibble), distinct per (kind, n)."""
    h = f"{n:024x}"
    return f"019{kind:05x}-{h[-20:-16]}-7{h[-16:-13]}-8{h[-13:-10]}-{h[-10:]}{kind:02x}"


def _template(t: int, base: datetime) -> tuple[str, dict[str, str]]:
    """Template ``t``'s record value, with ``{eid}``-style fields for the ids, and its
    headers (``{eid}`` in the id header)."""
    kind = KINDS[t % len(KINDS)]
    symbol = SYMBOLS[t % len(SYMBOLS)]
    price = Decimal(100 + (t * 37) % 60_000) / 100 + Decimal("0.01")
    threshold = Decimal("1.5") if kind == "pct_change" else price - Decimal("0.01")
    extra: dict[str, Any] = {}
    if kind in ("crosses_above", "crosses_below"):
        extra["previous_price"] = threshold - Decimal("0.01")
    elif kind == "pct_change":
        extra["reference_price"] = price * Decimal("0.98")
        extra["reference_time"] = base - timedelta(seconds=300)
        extra["change_pct"] = Decimal("2.04")
    triggered = base + timedelta(seconds=t * 2593, microseconds=t * 7)
    data = AlertTriggeredV1(
        match_id=_SLOTS["mid"],
        rule_id=_SLOTS["rid"],
        user_id=_SLOTS["uid"],
        symbol=symbol,
        price=price,
        condition=Condition(
            kind=kind, threshold=threshold, window_s=300 if kind == "pct_change" else None
        ),
        tick_id=_SLOTS["tid"],
        triggered_at=triggered,
        rule_version=1 + t % 3,
        tick_topic="ixo.market.ticks",
        tick_partition=t % 6,
        tick_offset=1000 + t,
        **extra,
    )
    tick = CloudEvent.new(data, source="/producers/market/bench", event_id=_SLOTS["tid"])
    event = CloudEvent.new(
        data,
        source="/consumers/rule-engine",
        causation=tick,
        event_id=_SLOTS["eid"],
        time=triggered + timedelta(milliseconds=3),
    )
    text = encode(event).decode().replace("{", "{{").replace("}", "}}")
    headers = record_headers(event)
    for name, slot in _SLOTS.items():
        text = text.replace(slot, "{" + name + "}")
        headers = {k: v.replace(slot, "{" + name + "}") for k, v in headers.items()}
    return text, headers


def fill_plan(events: int) -> tuple[int, int, int]:
    """(rules, users, distinct matches) for ``events`` events."""
    rules = max(1000, events // 10)
    users = max(1, rules // RULES_PER_USER)
    repeats = sum(1 for i in range(REPEAT_EVERY - 1, events, REPEAT_EVERY) if i >= REPEAT_LAG)
    return rules, users, events - repeats


def _is_repeat(i: int) -> bool:
    return i % REPEAT_EVERY == REPEAT_EVERY - 1 and i >= REPEAT_LAG


async def fill(settings: Settings, events: int) -> None:
    """Publish ``events`` alert events."""
    rules, users, _ = fill_plan(events)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    templates = [_template(t, base) for t in range(TEMPLATES)]
    topic = ALERT_MATCHES.full_name(settings.topic_prefix)
    producer = AIOKafkaProducer(
        **client_options(settings),
        client_id="bench-replay-fill",
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=MAX_BATCH_BYTES,
    )
    await producer.start()
    try:
        parts = sorted(await producer.partitions_for(topic))
        partition_of = {u: partition_for(f"u{u:07d}", len(parts)) for u in range(users)}
        builders = {p: producer.create_batch() for p in parts}
        futures: list[asyncio.Future[Any]] = []
        started = time.perf_counter()
        for i in range(events):
            n = i - REPEAT_LAG if _is_repeat(i) else i
            rule = (n * 7919) % rules
            user = rule % users
            text, headers = templates[rule % TEMPLATES]
            ids = {
                "eid": _uuid(1, i),
                "mid": _uuid(2, n),
                "rid": f"r{rule:07d}",
                "uid": f"u{user:07d}",
                "tid": _uuid(3, n),
            }
            value = text.format_map(ids).encode()
            key = ids["uid"].encode()
            pairs = [(k, v.format_map(ids).encode()) for k, v in headers.items()]
            p = partition_of[user]
            if builders[p].append(key=key, value=value, timestamp=None, headers=pairs) is None:
                futures.append(await producer.send_batch(builders[p], topic, partition=p))
                builders[p] = producer.create_batch()
                builders[p].append(key=key, value=value, timestamp=None, headers=pairs)
        for p, builder in builders.items():
            if builder.record_count():
                futures.append(await producer.send_batch(builder, topic, partition=p))
        await asyncio.gather(*futures)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    print(
        f"fill: {events:,} events ({rules:,} rules, {users:,} users, {len(SYMBOLS)} symbols) "
        f"in {seconds:.1f} s = {events / seconds:,.0f} events/s",
        flush=True,
    )


async def raw_drain(settings: Settings) -> tuple[int, float]:
    """Records and seconds of a group-less consumer reading the whole topic, nothing decoded."""
    topic = ALERT_MATCHES.full_name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, client_id="bench-replay-raw"
    )
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic, settings)
        started = time.perf_counter()
        ends = await consumer.end_offsets(tps)
        todo = [tp for tp in tps if ends[tp] > 0]
        consumer.assign(todo)
        await consumer.seek_to_beginning(*todo)
        remaining = set(todo)
        count = 0
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=DRAIN_RECORDS)
            count += sum(len(v) for v in batch.values())
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return count, time.perf_counter() - started
    finally:
        await consumer.stop()


class _Progress:
    """Prints the replay's progress each time it passes another tenth."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.next_tenth = 1

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or done * 10 < self.next_tenth * total:
            return
        while done * 10 >= self.next_tenth * total:
            self.next_tenth += 1
        seconds = time.perf_counter() - self.started
        print(
            f"  replay {done:>10,} / {total:,} ({100 * done // total:3d} %) "
            f"{seconds:6.1f} s, {done / seconds:,.0f} events/s",
            flush=True,
        )


async def ours_replay(settings: Settings) -> tuple[int, int, float]:
    """``ixo replay alerts --from-beginning``: (records, invalid, seconds)."""
    projection = PROJECTIONS["alerts"]
    topic = projection.topic.full_name(settings.topic_prefix)
    client = mongo_client(settings)
    try:
        async with offsets_consumer(settings) as consumer:
            await topic_partitions(consumer, topic, settings)
            store = ProjectionStore(await open_database(settings, client, documents=READ_MODELS))
            started = time.perf_counter()
            result = await replay(store, projection, consumer, topic, progress=_Progress())
            seconds = time.perf_counter() - started
        assert result.swapped, result
        return result.records, result.invalid, seconds
    finally:
        await client.close()


def winner_of(n: int, events: int) -> int:
    """The event whose row the read model must hold for match ``n`` (a repeat is newer)."""
    later = n + REPEAT_LAG
    return later if later < events and _is_repeat(later) else n


def _sample(events: int) -> list[int]:
    """Matches to look up: the first repeated and plain ones, and the last of each."""
    repeated = [i - REPEAT_LAG for i in range(events) if _is_repeat(i)]
    plain = [n for n in range(events) if not _is_repeat(n) and winner_of(n, events) == n]
    return repeated[:20] + repeated[-2:] + plain[:10] + plain[-1:]


async def check(settings: Settings, events: int) -> None:
    """The live ``alerts`` collection holds one document per match (``collStats``: counting
    with a query reads every document on FerretDB), and sampled matches hold their newest
    event (repeated ones the repeat). On FerretDB 1.24 a lookup by ``_id`` scans the table
    until it finds the row, so the sample is mostly early matches."""
    expected = fill_plan(events)[2]
    client = mongo_client(settings)
    try:
        db = client[settings.mongodb_database]
        names = await db.list_collection_names()
        left = [n for n in names if n.startswith("alerts__")]
        assert not left, f"collections left behind: {left}"
        started = time.perf_counter()
        count = (await db.command("collStats", "alerts"))["count"]
        assert count == expected, f"alerts holds {count:,} documents, expected {expected:,}"
        sample = _sample(events)
        for n in sample:
            doc = await db["alerts"].find_one({"_id": _uuid(2, n)}, {"event_id": 1})
            assert doc is not None, f"match {n} is missing"
            assert doc.get("event_id") == _uuid(1, winner_of(n, events)), f"match {n}: {doc}"
        print(
            f"check: alerts holds {count:,} documents (one per match_id); {len(sample)} sampled "
            f"matches hold their newest event ({time.perf_counter() - started:.1f} s)"
        )
    finally:
        await client.close()


async def main(events: int) -> int:
    tune_gc()  # as every service does at start (infra.runtime); it applies to both paths
    with bench_settings("replay") as settings:
        await ensure_topics(settings, [ALERT_MATCHES])
        try:
            await fill(settings, events)
            drained, raw_s = await raw_drain(settings)
            assert drained == events, f"the raw drain read {drained:,} of {events:,} records"
            raw_rate = drained / raw_s
            print(f"raw drain: {drained:,} records in {raw_s:.2f} s = {raw_rate:,.0f} records/s")
            records, invalid, ours_s = await ours_replay(settings)
            assert records == events, f"the replay read {records:,} of {events:,} records"
            assert invalid == 0, f"the replay skipped {invalid:,} records as invalid"
            ours_rate = records / ours_s
            print(f"replay: {records:,} events in {ours_s:.2f} s = {ours_rate:,.0f} events/s")
            await check(settings, events)
            # The aim is for a million events: at another size, the same rate is what counts.
            needed = AIM_EVENTS / AIM_S
            projected = AIM_EVENTS / ours_rate
            met = ours_rate >= needed
            print(
                f"aim: 1,000,000 events in < {AIM_S:.0f} s (>= {needed:,.0f} events/s): "
                + ("met" if met else "NOT met")
                + ("" if events == AIM_EVENTS else f" (at this rate 1M takes {projected:.0f} s)")
            )
            print(result_line("replay", ours_rate, raw_rate, "events_per_s"), flush=True)
        finally:
            async with admin_client(settings) as admin:
                with contextlib.suppress(Exception):
                    await admin.delete_topics([ALERT_MATCHES.full_name(settings.topic_prefix)])
            client = mongo_client(settings)
            with contextlib.suppress(Exception):
                await client.drop_database(settings.mongodb_database)
            await client.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=AIM_EVENTS)
    sys.exit(asyncio.run(main(parser.parse_args().events)))
