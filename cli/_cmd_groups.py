"""``ixo groups reset GROUP``: move a consumer group's committed offsets (to the start, the end,
or a time), the runbook's "reprocess since" and "skip a backlog" step.

Kafka accepts new offsets for a group only while it has no members, so the group's processes are
stopped first (the command checks and refuses otherwise). ``--dry-run`` shows the move.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from cli import _output as out
from cli._config import load_settings
from cli._errors import CommandError, UsageError
from cli._lag import resolve_group
from cli._times import parse_since
from infra.kafka import admin_client, client_options, offsets_consumer
from infra.settings import Settings

groups_app = typer.Typer(help="Consumer groups: move their offsets.", no_args_is_help=True)

EMPTY_STATES = frozenset({"Empty", "Dead"})


@dataclass(frozen=True)
class Move:
    topic: str
    partition: int
    current: int | None
    target: int

    @property
    def delta(self) -> int:
        """Records the group will process again (positive) or skip (negative)."""
        return (self.current or 0) - self.target

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reprocess": self.delta}


async def _group_state(settings: Settings, group: str) -> tuple[str, int]:
    async with admin_client(settings) as admin:
        responses = await admin.describe_consumer_groups([group])
    for response in responses:
        for found in response.to_object()["groups"]:
            if found["group"] == group:
                return str(found["state"]), len(found["members"])
    return "Dead", 0


async def plan_reset(
    settings: Settings, group: str, *, to: str, at: datetime | None, topic: str | None
) -> list[Move]:
    """Where each partition the group has committed on (of ``topic`` only, when given) moves."""
    async with admin_client(settings) as admin:
        committed = await admin.list_consumer_group_offsets(group)
    tps = sorted(tp for tp in committed if topic is None or tp.topic == topic)
    if not tps:
        which = f" on {topic}" if topic else ""
        msg = f"group {group} has no committed offsets{which}"
        raise CommandError(msg)
    async with offsets_consumer(settings) as consumer:
        if to == "start":
            targets: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        elif to == "end":
            targets = await consumer.end_offsets(tps)
        else:
            assert at is not None
            ends = await consumer.end_offsets(tps)
            found = await consumer.offsets_for_times(dict.fromkeys(tps, int(at.timestamp() * 1000)))
            targets = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in tps}
    moves = []
    for tp in tps:
        meta = committed[tp]
        current = int(meta.offset) if meta is not None and meta.offset >= 0 else None
        moves.append(Move(tp.topic, tp.partition, current, int(targets[tp])))
    return moves


async def apply_reset(settings: Settings, group: str, moves: list[Move]) -> None:
    state, members = await _group_state(settings, group)
    if members or state not in EMPTY_STATES:
        msg = (
            f"group {group} is {state} with {members} member(s): stop its processes first "
            "(Kafka moves the offsets of an empty group only)"
        )
        raise CommandError(msg)
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=group, enable_auto_commit=False, client_id="ixo-cli"
    )
    await consumer.start()
    try:
        offsets = {
            TopicPartition(m.topic, m.partition): OffsetAndMetadata(m.target, "") for m in moves
        }
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


@groups_app.command("reset")
def groups_reset(
    group: Annotated[
        str,
        typer.Argument(
            help="The group, as `ixo lag` shows it or its short name (projector.prices)."
        ),
    ],
    to_start: Annotated[
        bool, typer.Option("--to-start", help="Every retained record again.")
    ] = False,
    to_end: Annotated[
        bool, typer.Option("--to-end", help="Skip everything not processed yet.")
    ] = False,
    to_time: Annotated[
        str | None,
        typer.Option(
            "--to-time",
            help="The first record at or after this time (ISO 8601, or a duration ago: 2h).",
            show_default=False,
        ),
    ] = None,
    topic: Annotated[
        str | None,
        typer.Option(help="Only this topic's partitions (full name).", show_default=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the move; change nothing.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Move a consumer group's committed offsets to the start, the end, or a time.

    The group must have no running member (stop its processes first). Read models rebuild
    with `ixo replay`; this is for a consumer's own progress: reprocess since an incident
    (--to-time), or skip a backlog (--to-end).
    """
    chosen = [name for name, on in (("start", to_start), ("end", to_end), ("time", to_time)) if on]
    if len(chosen) != 1:
        msg = "give exactly one of --to-start, --to-end, --to-time"
        raise UsageError(msg)
    at = parse_since(to_time) if to_time is not None else None
    settings = load_settings()

    async def main() -> tuple[str, list[Move]]:
        async with admin_client(settings) as admin:
            listed = {str(g[0]) for g in await admin.list_consumer_groups()}
        full = resolve_group(settings, group, listed)
        moves = await plan_reset(settings, full, to=chosen[0], at=at, topic=topic)
        if not dry_run:
            await apply_reset(settings, full, moves)
        return full, moves

    full, moves = asyncio.run(main())
    if json_:
        out.emit_json(
            {"group": full, "dry_run": dry_run, "partitions": [m.as_dict() for m in moves]}
        )
        return
    out.table(
        ["topic", "partition", "committed", "new", "reprocess"],
        [[m.topic, m.partition, m.current, m.target, m.delta] for m in moves],
        right=["partition", "committed", "new", "reprocess"],
        title=f"{'would move' if dry_run else 'moved'} {full}",
    )
    total = sum(m.delta for m in moves)
    verb = "would reprocess" if dry_run else "will reprocess"
    out.result(f"{verb} {total} record(s)" if total >= 0 else f"skips {-total} record(s)")
