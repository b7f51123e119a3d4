"""``ixo topics``, ``ixo tail``, ``ixo publish`` and ``ixo lag``: looking at and writing topics."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.structs import RecordMetadata
from pydantic import ValidationError

from cli import _output as out
from cli._config import load_settings, resolve_topic
from cli._errors import UsageError
from cli._kafka import Start, connected_broker, read_records, topic_partitions
from cli._lag import consumer_lag
from cli._records import RawRecord, row_of
from cli._times import age, parse_since
from cli._where import Where
from infra.kafka import EventPublisher, describe_topics, offsets_consumer
from infra.settings import Settings
from schemas import AnyEvent, Topic, build_event, explain, loads

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
TopicArg = Annotated[
    str,
    typer.Argument(
        metavar="TOPIC",
        help="A catalogue topic (ixo.market.ticks) or its dead-letter topic (ixo.market.ticks.dlq);"
        " the IXO_TOPIC_PREFIX is added.",
        show_default=False,
    ),
]
DEFAULT_SOURCE = "/cli/ixo"


def topics(
    json_: JsonOpt = False,
    all_: Annotated[
        bool, typer.Option("--all", help="Also list topics that are not in the catalogue.")
    ] = False,
) -> None:
    """The topics on Kafka: partitions, retained messages, end offsets, retention."""
    settings = load_settings()
    infos = asyncio.run(describe_topics(settings, include_all=all_))
    if json_:
        out.emit_json(
            [
                {
                    "name": t.name,
                    "partitions": t.partitions,
                    "messages": t.messages,
                    "end_offset": sum(t.end_offsets.values()),
                    "end_offsets": t.end_offsets,
                    "begin_offsets": t.begin_offsets,
                    "retention": t.retention,
                    "in_catalogue": t.in_catalogue,
                }
                for t in infos
            ]
        )
        return
    if not infos:
        out.note(
            f"no catalogue topics on Kafka at {settings.kafka_bootstrap}"
            " (ixo up or ixo stack up create them)"
        )
        return
    rows = [
        [
            t.name,
            t.partitions,
            t.messages,
            sum(t.end_offsets.values()),
            t.retention,
            t.in_catalogue,
        ]
        for t in infos
    ]
    out.table(
        ["topic", "partitions", "messages", "end offsets", "retention", "in catalogue"],
        rows,
        right=["partitions", "messages", "end offsets"],
    )


@dataclass
class _TailStats:
    read: int = 0
    shown: int = 0


def _start_of(from_beginning: bool, since: str | None) -> Start:
    if from_beginning and since is not None:
        msg = "--from-beginning and --since exclude each other"
        raise UsageError(msg)
    if from_beginning:
        return "beginning"
    if since is not None:
        return parse_since(since)
    return "end"


def _json_line(record: RawRecord) -> str:
    """The record value as stored when it is a one-line JSON object, else a description."""
    if record.event is not None:
        text = record.value.decode("utf-8", "replace")
        return text if "\n" not in text else out.json_text(record.event)
    return out.json_text(record.as_dict())


async def _tail(
    settings: Settings,
    topic: Topic,
    *,
    start: Start,
    follow: bool,
    where: Where | None,
    limit: int | None,
    json_: bool,
    stats: _TailStats,
) -> None:
    full = topic.full_name(settings.topic_prefix)
    async with offsets_consumer(settings) as consumer:
        tps = await topic_partitions(consumer, full, settings)
        if follow and not json_:
            out.note(f"following {full} (Ctrl-C to stop)")
        warned = False
        reader = read_records(consumer, tps, start=start, follow=follow)
        async with contextlib.aclosing(reader) as records:
            async for record in records:
                stats.read += 1
                if where is not None and not where.matches(record):
                    if where.first_failure is not None and not warned:
                        warned = True
                        out.warn(
                            f"--where raised on {where.first_failure};"
                            " records where it raises do not match"
                        )
                    continue
                stats.shown += 1
                if json_:
                    out.write_line(_json_line(record))
                else:
                    out.record_line(row_of(record), dead_letter=topic.is_dlq)
                if limit is not None and stats.shown >= limit:
                    return


def tail(
    topic: TopicArg,
    *,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the first retained record.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="Start at this time: ISO 8601 (naive means UTC) or a duration ago (15m, 2h).",
            show_default=False,
        ),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(
            help="Only records where this expression is true, e.g. "
            "\"data.symbol == 'BTCUSDT' and dec(data.price) > 70000\". Names: id, type, source,"
            " subject, time, correlationid, causationid, data, partition, offset, key, headers;"
            " functions: dec, ts, len, str, int, float, lower, upper.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Stop after this many matching records.", show_default=False),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="One record value (a CloudEvent) per line.")
    ] = False,
    follow: Annotated[
        bool | None,
        typer.Option(
            "--follow/--no-follow",
            help="Keep waiting for new records. Default: follow, unless --from-beginning or"
            " --since is given (then stop at the end offsets taken at start).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print a topic's records as they arrive (or from the beginning, or since a time).

    Works on dead-letter topics and on records that are not valid events: values are parsed
    as plain JSON; a value that is not JSON is shown as text with its headers.
    """
    settings = load_settings()
    target = resolve_topic(topic, settings)
    start = _start_of(from_beginning, since)
    keep_following = follow if follow is not None else start == "end"
    where_ = Where(where) if where is not None else None
    stats = _TailStats()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _tail(
                settings,
                target,
                start=start,
                follow=keep_following,
                where=where_,
                limit=limit,
                json_=json_,
                stats=stats,
            )
        )
    if not json_:
        skipped = stats.read - stats.shown
        extra = f" ({skipped} did not match --where)" if where_ is not None and skipped else ""
        out.note(f"{stats.shown} record{'s' if stats.shown != 1 else ''}{extra}")


def _read_data(data: str) -> Any:
    """``--data``: JSON text, ``@path`` for a file, or ``-`` for stdin."""
    if data == "-":
        text = sys.stdin.read()
    elif data.startswith("@"):
        path = Path(data[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            msg = f"--data {data}: {exc.strerror or exc}"
            raise UsageError(msg) from None
    else:
        text = data
    try:
        return loads(text)
    except ValueError as exc:
        msg = f"--data is not valid JSON: {exc}"
        raise UsageError(msg) from None


async def _publish(settings: Settings, topic: Topic, event: AnyEvent) -> RecordMetadata:
    full = topic.full_name(settings.topic_prefix)
    async with offsets_consumer(settings) as consumer:
        await topic_partitions(consumer, full, settings)
    async with connected_broker(settings, "ixo-cli") as broker:
        return await EventPublisher(broker, settings).publish(event, topic)


def publish(
    topic: TopicArg,
    *,
    type_: Annotated[
        str,
        typer.Option("--type", help="The event type, e.g. ixo.market.tick.v1.", show_default=False),
    ],
    data: Annotated[
        str,
        typer.Option(
            help="The payload as JSON (decimals as strings), @file.json, or - for stdin.",
            show_default=False,
        ),
    ],
    source: Annotated[str, typer.Option(help="The CloudEvent source (a URI-reference).")] = (
        DEFAULT_SOURCE
    ),
    correlation_id: Annotated[
        str | None,
        typer.Option(help="Correlation id (default: the new event's id).", show_default=False),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Validate and publish one event; nothing is sent when it is invalid."""
    settings = load_settings()
    target = resolve_topic(topic, settings)
    payload = _read_data(data)
    try:
        event = build_event(target, type_, payload, source=source, correlation_id=correlation_id)
    except ValidationError as err:
        raise UsageError(explain(err)) from None
    meta = asyncio.run(_publish(settings, target, event))
    if json_:
        out.emit_json(
            {
                "topic": meta.topic,
                "partition": meta.partition,
                "offset": meta.offset,
                "id": event.id,
                "type": event.type,
                "subject": event.subject,
            }
        )
        return
    out.result(
        f"published {event.id} ({event.type}, subject {event.subject})"
        f" to {meta.topic} partition {meta.partition} offset {meta.offset}"
    )


def lag(
    json_: JsonOpt = False,
    group: Annotated[
        str | None,
        typer.Option(help="Only this consumer group (prefix added).", show_default=False),
    ] = None,
) -> None:
    """Consumer lag of every consumer group with this deployment's prefix: records behind, and
    how long ago the oldest unprocessed record was written ("behind"; lag_s in --json)."""
    settings = load_settings()
    rows = asyncio.run(consumer_lag(settings, group))
    if json_:
        out.emit_json([r.as_dict() for r in rows])
        return
    if not rows:
        prefix = settings.topic_prefix
        which = f" with prefix {prefix!r}" if prefix else ""
        out.note(f"no committed offsets for consumer groups{which}")
        return
    out.table(
        ["group", "topic", "partition", "committed", "end", "lag", "behind"],
        [[r.group, r.topic, r.partition, r.committed, r.end, r.lag, age(r.lag_s)] for r in rows],
        right=["partition", "committed", "end", "lag", "behind"],
    )
    total: dict[str, int] = {}
    oldest: dict[str, float] = {}
    for r in rows:
        total[r.group] = total.get(r.group, 0) + r.lag
        oldest[r.group] = max(oldest.get(r.group, 0.0), r.lag_s or 0.0)
    for name, value in total.items():
        out.note(f"{name}: total lag {value}, {age(oldest[name])} behind")
