"""Dead letters: what the dead-letter topics hold, and their second chance (requeue).

Shared by ``ixo dlq`` and the gateway's ``/v1/ops/dlq`` routes (moved from the CLI in issue
14). A requeue republishes each dead letter to its source topic once, however often it runs:
every republished record is recorded on the compacted ``ixo.dlq.requeues`` ledger (keyed by the
dead letter's position), after Kafka acknowledged the copy. The ledger's ``by`` names who did it
(``cli:<login>``, ``gateway:<user id>``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from faststream.kafka import KafkaBroker

from infra.kafka._admin import describe_topics, ensure_topics, offsets_consumer, partitions_of
from infra.kafka._broker import make_broker
from infra.kafka._publisher import EventPublisher
from infra.kafka._records import RawRecord, read_records, start_offsets, topic_partitions
from infra.kafka._security import client_options
from infra.settings import Settings
from schemas import (
    CATALOGUE,
    DLQ_REQUEUES,
    DLQ_SUFFIX,
    HEADER_GROUP,
    HEADER_REQUEUE_OF,
    HEADER_REQUEUED_FOR,
    HEADER_SOURCE_TOPIC,
    CloudEvent,
    DeadLetterRequeuedV1,
    Topic,
    TransientError,
    dead_letter_id,
    header_map,
)

REQUEUE_GROUP = "ixo.cli.dlq-requeue"
"""The consumer group that remembers how far requeue read (the CLI's and the gateway's)."""
EXAMPLES_PER_ERROR = 3
SUMMARY_SCAN_LIMIT = 10_000
"""Records read per dead-letter topic to group them by error type (the count is exact)."""


def _unreachable(settings: Settings, exc: BaseException) -> TransientError:
    return TransientError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}")


@contextlib.asynccontextmanager
async def group_consumer(settings: Settings, group: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer in consumer group ``group`` (prefixed), for manual assign and commit."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=settings.group(group),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="ixo-dlq",
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise _unreachable(settings, exc) from None
    try:
        yield consumer
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def connected_broker(settings: Settings, client_id: str) -> AsyncIterator[KafkaBroker]:
    """A connected FastStream broker (for publishing), stopped on exit; Kafka unreachable is a
    :class:`TransientError` naming the address."""
    broker = make_broker(settings, client_id=client_id)
    try:
        await broker.connect()
    except KafkaError as exc:
        await broker.stop()
        raise _unreachable(settings, exc) from None
    try:
        yield broker
    finally:
        await broker.stop()


def source_of(dlq: Topic) -> Topic:
    """The catalogue topic a dead-letter topic belongs to."""
    return CATALOGUE.topic(dlq.name.removesuffix(DLQ_SUFFIX))


async def read_all(settings: Settings, full: str, limit: int | None) -> list[RawRecord]:
    """The records of topic ``full`` (prefixed) from the first retained, ``limit`` at most."""
    found: list[RawRecord] = []
    async with offsets_consumer(settings) as consumer:
        tps = await topic_partitions(consumer, full, settings)
        reader = read_records(consumer, tps, start="beginning", follow=False)
        async with contextlib.aclosing(reader) as records:
            async for record in records:
                found.append(record)
                if limit is not None and len(found) >= limit:
                    break
    return found


def record_summary(record: RawRecord) -> dict[str, Any]:
    """What an operator needs to see of a dead letter without its whole value."""
    event = record.event or {}
    return {
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.record_time(),
        "error_type": record.error_type,
        "error": record.error,
        "group": record.headers.get(HEADER_GROUP),
        "source": record.source,
        "type": event.get("type"),
        "id": event.get("id"),
        "subject": event.get("subject", record.key),
    }


async def dlq_overview(settings: Settings) -> list[dict[str, Any]]:
    """Every dead-letter topic on the cluster with its record count and, for a non-empty one,
    its records grouped by error type (the first few of each as examples)."""
    infos = [
        t for t in await describe_topics(settings) if t.in_catalogue and t.name.endswith(DLQ_SUFFIX)
    ]
    out: list[dict[str, Any]] = []
    for info in infos:
        records = await read_all(settings, info.name, SUMMARY_SCAN_LIMIT) if info.messages else []
        by_error: dict[str, dict[str, Any]] = {}
        for record in records:
            kind = record.error_type or "(none)"
            entry = by_error.setdefault(
                kind, {"error_type": kind, "count": 0, "groups": Counter(), "examples": []}
            )
            entry["count"] += 1
            entry["groups"][record.headers.get(HEADER_GROUP) or "(every group)"] += 1
            if len(entry["examples"]) < EXAMPLES_PER_ERROR:
                entry["examples"].append(record_summary(record))
        out.append(
            {
                "name": info.name,
                "source": info.name.removesuffix(DLQ_SUFFIX),
                "messages": info.messages,
                "scanned": len(records),
                "errors": [
                    {**e, "groups": dict(e["groups"])}
                    for e in sorted(by_error.values(), key=lambda e: -int(e["count"]))
                ],
            }
        )
    return out


@dataclass
class RequeueResult:
    dlq: str
    target: str
    dry_run: bool
    requeued: list[RawRecord] = field(default_factory=list)
    skipped: list[tuple[RawRecord, str]] = field(default_factory=list)
    already: list[RawRecord] = field(default_factory=list)
    """Dead letters requeued by an earlier run (the ``ixo.dlq.requeues`` ledger)."""

    def as_dict(self) -> dict[str, Any]:
        groups = Counter(r.headers.get(HEADER_GROUP) or "(every group)" for r in self.requeued)
        return {
            "dlq": self.dlq,
            "target": self.target,
            "dry_run": self.dry_run,
            "requeued": len(self.requeued),
            "already_requeued": len(self.already),
            "skipped": len(self.skipped),
            "by_group": dict(groups),
            "records": [
                {
                    "partition": r.partition,
                    "offset": r.offset,
                    "group": r.headers.get(HEADER_GROUP),
                    "type": (r.event or {}).get("type"),
                    "id": (r.event or {}).get("id"),
                }
                for r in self.requeued
            ],
            "skipped_records": [
                {"partition": r.partition, "offset": r.offset, "reason": why}
                for r, why in self.skipped
            ],
        }


def requeue_headers(record: RawRecord, dlq: Topic) -> dict[str, str]:
    """The record's headers without the dead-letter ones (``x-*``), helper headers under their
    current names only (a legacy ``ce_`` header would make CloudEvents readers see binary mode),
    and where it comes from; for the group that failed it alone when the dead letter names one
    (decision 0088)."""
    headers = {
        k: v for k, v in header_map(record.headers).items() if not k.lower().startswith("x-")
    }
    headers.pop(HEADER_REQUEUED_FOR, None)
    group = record.headers.get(HEADER_GROUP)
    if group:
        headers[HEADER_REQUEUED_FOR] = group
    headers[HEADER_REQUEUE_OF] = dead_letter_id(dlq.name, record.partition, record.offset)
    return headers


def skip_reason(record: RawRecord, target: str) -> str | None:
    """Why a dead letter cannot go back to ``target``; None when it can."""
    source = record.headers.get(HEADER_SOURCE_TOPIC)
    if source is None:
        return f"no {HEADER_SOURCE_TOPIC} header"
    if source != target:
        return f"{HEADER_SOURCE_TOPIC} is {source}, not {target}"
    return None


async def requeued_before(settings: Settings, dlq: Topic) -> set[str]:
    """The dead letters of ``dlq`` already requeued: the keys of the compacted ledger (none
    when the ledger topic does not exist yet)."""
    name = DLQ_REQUEUES.full_name(settings.topic_prefix)
    async with offsets_consumer(settings) as consumer:
        if not await partitions_of(consumer, name):
            return set()
    records = await read_all(settings, name, None)
    prefix = f"{dlq.name}:"
    return {r.key for r in records if r.key is not None and r.key.startswith(prefix)}


def _ledger_event(
    record: RawRecord, dlq: Topic, target: str, meta: RecordMetadata, *, by: str, source: str
) -> CloudEvent[DeadLetterRequeuedV1]:
    return CloudEvent.new(
        DeadLetterRequeuedV1(
            dead_letter_id=dead_letter_id(dlq.name, record.partition, record.offset),
            source_topic=target,
            group=record.headers.get(HEADER_GROUP),
            event_id=str((record.event or {}).get("id"))[:300] if record.event else None,
            partition=meta.partition,
            offset=meta.offset,
            by=by[:200],
        ),
        source=source,
    )


async def requeue(
    settings: Settings,
    dlq: Topic,
    *,
    limit: int | None,
    dry_run: bool,
    from_start: bool,
    by: str,
    source: str,
) -> RequeueResult:
    """Republish the dead letters not requeued before; each copy is acknowledged by Kafka before
    it is recorded on the ledger (a crash in between republishes it again on the next run, which
    consumers dedupe by event id; recording first could lose it). ``by`` names the operator on
    the ledger, ``source`` is the ledger events' CloudEvents source."""
    prefix = settings.topic_prefix
    full = dlq.full_name(prefix)
    result = RequeueResult(full, source_of(dlq).full_name(prefix), dry_run)
    if not dry_run:  # a cluster set up before the ledger existed gets it now
        await ensure_topics(settings, [DLQ_REQUEUES])
    done_before = await requeued_before(settings, dlq)
    async with group_consumer(settings, REQUEUE_GROUP) as consumer:
        tps = await topic_partitions(consumer, full, settings)
        begins = await start_offsets(consumer, tps, "beginning")
        starts: dict[TopicPartition, int] = {}
        for tp in tps:
            done = None if from_start else await consumer.committed(tp)
            starts[tp] = max(begins[tp], done or 0)
        broker_cm = (
            connected_broker(settings, "ixo-dlq-requeue")
            if not dry_run
            else contextlib.nullcontext(None)
        )
        next_offsets: dict[TopicPartition, int] = {}
        async with broker_cm as broker:
            publisher = EventPublisher(broker, settings) if broker is not None else None
            pending: list[tuple[RawRecord, asyncio.Future[RecordMetadata]]] = []
            reader = read_records(consumer, tps, start="beginning", follow=False, starts=starts)
            async with contextlib.aclosing(reader) as records:
                async for record in records:
                    next_offsets[TopicPartition(full, record.partition)] = record.offset + 1
                    if dead_letter_id(dlq.name, record.partition, record.offset) in done_before:
                        result.already.append(record)
                        continue
                    reason = skip_reason(record, result.target)
                    if reason is not None:
                        result.skipped.append((record, reason))
                        continue
                    if publisher is not None:
                        future = await publisher.send_raw(
                            result.target,
                            record.value,
                            key=record.raw_key,
                            headers=requeue_headers(record, dlq),
                        )
                        pending.append((record, future))
                    result.requeued.append(record)
                    if limit is not None and len(result.requeued) >= limit:
                        break
            if publisher is not None and pending:
                metas = await asyncio.gather(*(f for _, f in pending))
                await publisher.publish_many(
                    [
                        _ledger_event(record, dlq, result.target, meta, by=by, source=source)
                        for (record, _), meta in zip(pending, metas, strict=True)
                    ]
                )
        if not dry_run and next_offsets:
            await consumer.commit(next_offsets)
    return result
