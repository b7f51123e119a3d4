"""The clock loop's core: on each tick, publish one ``ixo.task.due.v1`` for every slot that has
come due, once, however many scheduler processes run.

For each task (system tasks from the registry, user schedules from the compacted topic):

1. ``through`` (shared, in the ledger) is the instant up to which every slot has been fired. A
   task seen for the first time starts at its schedule's creation (user schedules) or now
   (system tasks: a new deployment does not fire yesterday's slots).
2. The due slots are those in ``(max(through, now - catch_up), now]``: after a restart or an
   outage, missed slots fire once each, oldest first, back to ``catch_up`` (24 h by default);
   older ones are skipped with a warning.
3. Each slot is claimed in the ledger (a lease); the claimer publishes the due event, with an
   id derived from the slot id, marks the slot done and advances ``through``. A slot another
   process holds stops the task's catch-up until the next tick, so ``through`` never passes a
   slot that is not fired. If the claimer dies after publishing but before marking, the lease
   expires and another process publishes the same event id again, which consumers dedupe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from consumers.scheduler._cadence import Cadence, CadenceError
from consumers.scheduler._registry import TaskSpec
from consumers.scheduler._slots import due_event_id, slot_id, task_key
from consumers.scheduler._types import EventSink, ScheduleSource, ScheduleSpec, SlotLedger
from schemas import CloudEvent, TaskDueV1

log = logging.getLogger(__name__)

SOURCE: Final = "/consumers/scheduler"


@dataclass(frozen=True)
class SchedulerConfig:
    """Knobs of the scheduler (the defaults are what ``ixo run scheduler`` uses).

    ``tick_s``: how often the clock is read; ``catch_up``: how far back missed slots are fired;
    ``lease_s``: how long a slot claim lasts before another process may take it over;
    ``max_slots_per_tick``: slots one task fires per tick (the rest follow on the next tick);
    ``concurrency``: tasks worked on at once."""

    tick_s: float = 1.0
    catch_up: timedelta = timedelta(hours=24)
    lease_s: float = 30.0
    max_slots_per_tick: int = 500
    concurrency: int = 32

    def __post_init__(self) -> None:
        if self.tick_s <= 0 or self.lease_s <= 0:
            msg = "tick_s and lease_s must be positive"
            raise ValueError(msg)
        if self.catch_up < timedelta(0):
            msg = "catch_up must not be negative"
            raise ValueError(msg)


@dataclass(frozen=True)
class Job:
    """One task to fire: a system task or a user schedule."""

    key: str
    task_id: str
    cadence: Cadence
    since: datetime | None = None
    schedule_id: str | None = None
    user_id: str | None = None


def task_job(spec: TaskSpec) -> Job:
    return Job(key=spec.key, task_id=spec.name, cadence=spec.cadence)


def schedule_job(spec: ScheduleSpec) -> Job:
    """Raises :class:`CadenceError` for a schedule that cannot be run."""
    return Job(
        key=task_key("schedule", spec.schedule_id),
        task_id=spec.schedule_id,
        cadence=spec.cadence(),
        since=spec.created_at,
        schedule_id=spec.schedule_id,
        user_id=spec.user_id,
    )


def due_event(job: Job, slot: datetime, *, now: datetime, source: str = SOURCE) -> CloudEvent[Any]:
    """The ``ixo.task.due.v1`` of one slot of ``job`` (its id derives from the slot id)."""
    sid = slot_id(job.key, slot)
    data = TaskDueV1(
        task_id=job.task_id,
        slot_id=sid,
        slot=slot,
        schedule_id=job.schedule_id,
        user_id=job.user_id,
    )
    return CloudEvent.new(data, source=source, event_id=due_event_id(sid), time=now)


@dataclass
class _Jobs:
    """Jobs built from schedules, cached per schedule version (cron parsing is not free)."""

    by_data: dict[Any, Job | None] = field(default_factory=dict)

    def of(self, spec: ScheduleSpec) -> Job | None:
        cache_key = (spec.data, spec.created_at)
        if cache_key not in self.by_data:
            try:
                self.by_data[cache_key] = schedule_job(spec)
            except CadenceError as exc:
                log.warning(
                    "schedule cannot run; skipped",
                    extra={"schedule_id": spec.schedule_id, "error": str(exc)},
                )
                self.by_data[cache_key] = None
        return self.by_data[cache_key]

    def keep(self, specs: Mapping[str, ScheduleSpec]) -> None:
        live = {(s.data, s.created_at) for s in specs.values()}
        self.by_data = {k: v for k, v in self.by_data.items() if k in live}


class Scheduler:
    """Fires due slots. Stateless apart from caches: the ledger holds the shared progress, so
    any number of schedulers run side by side."""

    def __init__(
        self,
        ledger: SlotLedger,
        schedules: ScheduleSource,
        sink: EventSink,
        *,
        tasks: Mapping[str, TaskSpec] | None = None,
        config: SchedulerConfig | None = None,
        source: str = SOURCE,
    ) -> None:
        self._ledger = ledger
        self._schedules = schedules
        self._sink = sink
        self._tasks = [task_job(t) for t in (tasks or {}).values()]
        self.config = config or SchedulerConfig()
        self._source = source
        self._jobs = _Jobs()
        self._specs: Mapping[str, ScheduleSpec] | None = None
        self._all: list[Job] = []
        self._next_due: dict[Job, datetime] = {}

    async def jobs(self) -> list[Job]:
        """Every job: the system tasks, then the live user schedules that can run."""
        specs = await self._schedules.live()
        if specs is self._specs:  # the book did not change since the last tick
            return self._all
        self._jobs.keep(specs)
        found = [job for spec in specs.values() if (job := self._jobs.of(spec)) is not None]
        self._specs, self._all = specs, [*self._tasks, *found]
        return self._all

    async def tick(self, now: datetime) -> list[str]:
        """Fire every slot due at ``now``; returns the slot ids this process fired."""
        jobs = await self.jobs()
        live = set(jobs)
        self._next_due = {j: t for j, t in self._next_due.items() if j in live}
        todo = [j for j in jobs if (due := self._next_due.get(j)) is None or due <= now]
        if not todo:
            return []
        limit = asyncio.Semaphore(self.config.concurrency)

        async def bounded(job: Job) -> list[str]:
            async with limit:
                return await self.run_job(job, now)

        results = await asyncio.gather(*(bounded(j) for j in todo), return_exceptions=True)
        fired: list[str] = []
        for job, result in zip(todo, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "task not fired this tick; retrying on the next",
                    extra={"task": job.key, "error": f"{type(result).__name__}: {result}"},
                )
            else:
                fired.extend(result)
        return fired

    async def run_job(self, job: Job, now: datetime) -> list[str]:
        """Fire the due slots of one job, oldest first."""
        ledger, config = self._ledger, self.config
        through = await ledger.through(job.key)
        if through is None:
            through = await ledger.start(job.key, job.since or now)
        start = through
        floor = now - config.catch_up
        if start < floor:
            log.warning(
                "slots older than the catch-up window are skipped",
                extra={"task": job.key, "through": through.isoformat(), "from": floor.isoformat()},
            )
            start = floor
        slots = job.cadence.between(start, now, limit=config.max_slots_per_tick)
        token = uuid.uuid4().hex
        fired: list[str] = []
        for slot in slots:
            sid = slot_id(job.key, slot)
            state = await ledger.claim(sid, token)
            if state == "busy":
                return fired  # another process fires it; look again on the next tick
            if state == "claimed":
                await self._fire(job, slot, sid, token, now)
                fired.append(sid)
            await ledger.advance(job.key, slot)
        if len(slots) < config.max_slots_per_tick:
            self._next_due[job] = job.cadence.next_after(now)
        return fired

    async def _fire(self, job: Job, slot: datetime, sid: str, token: str, now: datetime) -> None:
        event = due_event(job, slot, now=now, source=self._source)
        try:
            await self._sink.publish([event])
        except BaseException:
            with contextlib.suppress(Exception):
                await self._ledger.release(sid, token)
            raise
        await self._ledger.done(sid)
        log.info(
            "slot fired",
            extra={"task": job.key, "slot_id": sid, "event_id": event.id},
        )
