"""Rebuilding the scheduler's working state after Redis lost it (a restart without persistence,
a ``FLUSHALL``, ``ixo rebuild redis``), from the sources of truth:

- **the book** (live user schedules) — ``ixo.schedules`` (compacted) folded to the latest event
  per schedule and applied with its (partition, offset), as the fold group does; a schedule that
  cannot run is skipped (the fold group dead-letters it);
- **each task's progress** (``through``: up to which instant every slot was fired) — the latest
  slot of each task on ``ixo.tasks.due`` within the catch-up window (older slots are never fired
  again anyway). Without it a user schedule would restart at its creation and re-publish every
  slot of the window, and a system task would skip the slots due while the state was missing.

Not restored: the per-slot claims (a claim lives for one lease; ``through`` already covers every
fired slot) and the workers' ``handled`` markers (a due event is only redelivered to a worker
after a crash, and the worker's own outputs have ids derived from it, so consumers deduplicate).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from consumers.scheduler._cadence import CadenceError
from consumers.scheduler._slots import task_key
from schemas import AnyEvent, ScheduleCreatedV1, TaskDueV1

log = logging.getLogger(__name__)

MARGIN: Final = timedelta(minutes=10)
"""Due events are looked up by broker time, which trails the slot instant a little."""


class Positioned(Protocol):
    @property
    def event(self) -> AnyEvent: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class SchedulerRebuildSource(Protocol):
    """What a rebuild reads (Kafka in production)."""

    async def schedules(self) -> Sequence[Positioned]:
        """The latest event of every schedule."""
        ...

    def fired(self, since_ms: int) -> AsyncIterator[Positioned]:
        """Due events written at or after ``since_ms``."""
        ...


class BookFold(Protocol):
    async def fold(self, batch: Sequence[Positioned]) -> None: ...


class Progress(Protocol):
    async def advance(self, key: str, slot: datetime) -> None: ...


@dataclass(slots=True)
class SchedulerRebuildSummary:
    """What a rebuild restored."""

    schedules: int = 0
    skipped: int = 0
    tasks: int = 0


async def rebuild(
    book: BookFold,
    progress: Progress,
    source: SchedulerRebuildSource,
    *,
    now: datetime,
    catch_up: timedelta,
) -> SchedulerRebuildSummary:
    """Rebuild the scheduler's (empty) Redis state from ``source``; see the module doc."""
    summary = SchedulerRebuildSummary()
    live: set[str] = set()
    for item in await source.schedules():
        try:
            await book.fold([item])
        except CadenceError:
            summary.skipped += 1
            continue
        if isinstance(item.event.data, ScheduleCreatedV1):
            live.add(task_key("schedule", item.event.data.schedule_id))
            summary.schedules += 1
    latest: dict[str, datetime] = {}
    since = now - catch_up - MARGIN
    async for item in source.fired(int(since.timestamp() * 1000)):
        data = item.event.data
        if not isinstance(data, TaskDueV1):
            continue
        if data.schedule_id is not None:
            key = task_key("schedule", data.schedule_id)
            if key not in live:
                continue
        else:
            key = task_key("task", data.task_id)
        if key not in latest or data.slot > latest[key]:
            latest[key] = data.slot
    for key, slot in latest.items():
        await progress.advance(key, slot)
    summary.tasks = len(latest)
    log.info(
        "scheduler state rebuilt",
        extra={"schedules": summary.schedules, "tasks": summary.tasks},
    )
    return summary
