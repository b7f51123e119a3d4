"""``ixo dlq list|show|requeue``: dead-letter topics, their records and their second chance."""

from __future__ import annotations

import asyncio
import getpass
from collections import Counter
from typing import Annotated

import typer

from cli import _output as out
from cli._config import load_settings, resolve_topic
from cli._records import clip, row_of
from infra.kafka import (
    REQUEUE_GROUP,
    RequeueResult,
    describe_topics,
    read_all,
    requeue,
    requeue_headers,
    skip_reason,
)
from infra.settings import Settings
from schemas import DLQ_SUFFIX, HEADER_GROUP, Topic

__all__ = ["REQUEUE_GROUP", "dlq_app", "requeue_headers", "skip_reason"]

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


@dlq_app.command("show")
def dlq_show(topic: DlqArg, limit: LimitOpt = None, json_: JsonOpt = False) -> None:
    """The records of a dead-letter topic with their error and where they came from."""
    settings = load_settings()
    dlq = _dlq_of(topic, settings)
    records = asyncio.run(read_all(settings, dlq.full_name(settings.topic_prefix), limit))
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


async def _requeue(
    settings: Settings, dlq: Topic, *, limit: int | None, dry_run: bool, from_start: bool
) -> RequeueResult:
    """The shared requeue (``infra.kafka.requeue``), recorded as this operator's."""
    return await requeue(
        settings,
        dlq,
        limit=limit,
        dry_run=dry_run,
        from_start=from_start,
        by=f"cli:{getpass.getuser()}",
        source=REQUEUE_SOURCE,
    )


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
