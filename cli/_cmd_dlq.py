"""``ixo dlq list|show|requeue``: dead-letter topics, their records and their second chance."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from aiokafka import TopicPartition
from aiokafka.structs import RecordMetadata

from cli import _output as out
from cli._config import load_settings, resolve_topic
from cli._kafka import (
    connected_broker,
    group_consumer,
    read_records,
    start_offsets,
    topic_partitions,
)
from cli._records import RawRecord, clip, row_of
from infra.kafka import (
    EventPublisher,
    describe_topics,
    ensure_topics,
    offsets_consumer,
    partitions_of,
)
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
    dead_letter_id,
    header_map,
)

REQUEUE_GROUP = "ixo.cli.dlq-requeue"
REQUEUE_SOURCE = "/cli/dlq-requeue"
ERROR_WIDTH = 100

dlq_app = typer.Typer(help="Dead-letter topics: list, show, requeue.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
DlqArg = Annotated[
    str,
    typer.Argument(
        metavar="TOPIC",
        help="A dead-letter topic (ixo.market.ticks.dlq) or the topic it belongs to.",
        show_default=False,
    ),
]
LimitOpt = Annotated[
    int | None, typer.Option(min=1, help="At most this many records.", show_default=False)
]


def _dlq_of(name: str, settings: Settings) -> Topic:
    return resolve_topic(name, settings).dlq


def _source_of(dlq: Topic) -> Topic:
    return CATALOGUE.topic(dlq.name.removesuffix(DLQ_SUFFIX))


@dlq_app.command("list")
def dlq_list(json_: JsonOpt = False) -> None:
    """Dead-letter topics with how many records they hold."""
    settings = load_settings()
    infos = [
        t
        for t in asyncio.run(describe_topics(settings))
        if t.in_catalogue and t.name.endswith(DLQ_SUFFIX)
    ]
    if json_:
        out.emit_json(
            [
                {
                    "name": t.name,
                    "source": t.name.removesuffix(DLQ_SUFFIX),
                    "messages": t.messages,
                    "end_offset": sum(t.end_offsets.values()),
                }
                for t in infos
            ]
        )
        return
    if not infos:
        out.note(f"no dead-letter topics on Kafka at {settings.kafka_bootstrap}")
        return
    out.table(
        ["dead-letter topic", "source topic", "messages"],
        [
            [t.name, t.name.removesuffix(DLQ_SUFFIX), out.styled(str(t.messages), "red")]
            if t.messages
            else [t.name, t.name.removesuffix(DLQ_SUFFIX), 0]
            for t in infos
        ],
        right=["messages"],
    )


async def _read_all(settings: Settings, full: str, limit: int | None) -> list[RawRecord]:
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


@dlq_app.command("show")
def dlq_show(topic: DlqArg, limit: LimitOpt = None, json_: JsonOpt = False) -> None:
    """The records of a dead-letter topic with their error and where they came from."""
    settings = load_settings()
    dlq = _dlq_of(topic, settings)
    records = asyncio.run(_read_all(settings, dlq.full_name(settings.topic_prefix), limit))
    if json_:
        for record in records:
            out.emit_json(record.as_dict())
        return
    if not records:
        out.note(f"{dlq.full_name(settings.topic_prefix)} is empty")
        return
    rows = []
    for record in records:
        row = row_of(record)
        rows.append(
            [
                row.position,
                row.time,
                row.error_type,
                clip(row.error or "", ERROR_WIDTH),
                record.headers.get(HEADER_GROUP) or "",
                row.source,
                row.type or "(not JSON)",
                row.subject,
            ]
        )
    out.table(["record", "time", "error type", "error", "group", "from", "type", "subject"], rows)
    out.note(f"{len(records)} record{'s' if len(records) != 1 else ''}")


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
    records = await _read_all(settings, name, None)
    prefix = f"{dlq.name}:"
    return {r.key for r in records if r.key is not None and r.key.startswith(prefix)}


def _ledger_event(
    record: RawRecord, dlq: Topic, target: str, meta: RecordMetadata
) -> CloudEvent[DeadLetterRequeuedV1]:
    return CloudEvent.new(
        DeadLetterRequeuedV1(
            dead_letter_id=dead_letter_id(dlq.name, record.partition, record.offset),
            source_topic=target,
            group=record.headers.get(HEADER_GROUP),
            event_id=str((record.event or {}).get("id"))[:300] if record.event else None,
            partition=meta.partition,
            offset=meta.offset,
            by=f"cli:{getpass.getuser()}",
        ),
        source=REQUEUE_SOURCE,
    )


async def _requeue(
    settings: Settings, dlq: Topic, *, limit: int | None, dry_run: bool, from_start: bool
) -> RequeueResult:
    """Republish the dead letters not requeued before; each copy is acknowledged by Kafka before
    it is recorded on the ledger (a crash in between republishes it again on the next run, which
    consumers dedupe by event id; recording first could lose it)."""
    prefix = settings.topic_prefix
    full = dlq.full_name(prefix)
    result = RequeueResult(full, _source_of(dlq).full_name(prefix), dry_run)
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
            connected_broker(settings, "ixo-cli-requeue")
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
                        _ledger_event(record, dlq, result.target, meta)
                        for (record, _), meta in zip(pending, metas, strict=True)
                    ]
                )
        if not dry_run and next_offsets:
            await consumer.commit(next_offsets)
    return result


@dlq_app.command("requeue")
def dlq_requeue(
    topic: DlqArg,
    limit: LimitOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be requeued; send nothing.")
    ] = False,
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Start from the first retained record, also those requeued before."
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Publish dead letters again to their source topic (original value, key and headers),
    each for the consumer group that failed it alone.

    The x-* headers are dropped; ixo-requeued-for names the group (the other groups skip the
    copy: they processed the original). A record that is still invalid comes straight back to
    the dead-letter topic (as a new record), so fix the cause first; --dry-run shows what would
    be republished. Each dead letter is republished once, however often this runs: every requeue
    is recorded on ixo.dlq.requeues. Requeue also remembers how far it read (consumer group
    ixo.cli.dlq-requeue); --all reads from the first retained record again.
    """
    settings = load_settings()
    dlq = _dlq_of(topic, settings)
    result = asyncio.run(_requeue(settings, dlq, limit=limit, dry_run=dry_run, from_start=all_))
    if json_:
        out.emit_json(result.as_dict())
        return
    if dry_run and result.requeued:
        out.table(
            ["record", "error type", "group", "type", "subject"],
            [
                [
                    r.position,
                    row.error_type,
                    r.headers.get(HEADER_GROUP) or "(every group)",
                    row.type or "(not JSON)",
                    row.subject,
                ]
                for r in result.requeued
                for row in (row_of(r),)
            ],
            title=f"would requeue to {result.target}",
        )
    verb = "would requeue" if dry_run else "requeued"
    count = len(result.requeued)
    out.result(
        f"{verb} {count} record{'s' if count != 1 else ''} from {result.dlq} to {result.target}"
    )
    if result.already:
        out.note(f"{len(result.already)} requeued before (not again)")
    if result.skipped:
        reasons = Counter(why for _, why in result.skipped)
        detail = "; ".join(f"{n} × {why}" for why, n in reasons.items())
        out.warn(f"skipped {len(result.skipped)}: {detail}")
