"""The task registry: ``@task`` for system tasks that run on a cadence, ``@on_event`` for
workers that react to catalogue events.

    registry = Registry()

    @registry.task("prices.snapshot", every=timedelta(minutes=5))
    async def snapshot(due: TaskDueV1, ctx: WorkerContext) -> Sequence[Emit]: ...

    @registry.on_event("ixo.alert.triggered.v1")
    async def on_alert(event: AnyEvent, ctx: WorkerContext) -> Sequence[Emit]: ...

The scheduler publishes one ``ixo.task.due.v1`` per slot of each task; the registry's own
``system_tasks`` worker consumes it and runs the task (so exactly one process runs each slot,
with the consumer's retries). A worker returns :class:`Emit` values; the scheduler publishes
them with ids derived from the cause, so a redelivered event re-publishes the same ids.
Registration is pure: nothing here touches a broker.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from consumers.scheduler._cadence import Cadence, CadenceError
from consumers.scheduler._slots import task_key
from consumers.scheduler._types import Emit, WorkerContext
from schemas import CATALOGUE, TASKS_DUE, AnyEvent, TaskDueV1, Topic

TaskFn = Callable[[TaskDueV1, WorkerContext], Awaitable[Sequence[Emit]]]
WorkerFn = Callable[[AnyEvent, WorkerContext], Awaitable[Sequence[Emit]]]

SYSTEM_TASKS: Final = "system_tasks"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


@dataclass(frozen=True)
class TaskSpec:
    """A system task: its name (the ``task_id`` of its due events), cadence and function."""

    name: str
    cadence: Cadence
    fn: TaskFn

    @property
    def key(self) -> str:
        return task_key("task", self.name)


@dataclass(frozen=True)
class EventWorker:
    """A worker for one event type (consumed from the type's catalogue topic)."""

    name: str
    event_type: str
    topic: Topic
    fn: WorkerFn


def _seconds(every: timedelta | float) -> float:
    return every.total_seconds() if isinstance(every, timedelta) else float(every)


class Registry:
    """System tasks and event workers, by name."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}
        self._workers: list[EventWorker] = []

    def task(
        self,
        name: str,
        *,
        every: timedelta | float | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
    ) -> Callable[[TaskFn], TaskFn]:
        """Register a system task due every ``every`` (a timedelta or seconds, at least 1 s) or
        on ``cron`` (5 fields, or 6 with the second first) in ``timezone``."""
        if not _NAME.match(name):
            msg = f"task name {name!r}: letters, digits, '_', '.', '-' (at most 100)"
            raise ValueError(msg)
        if name in self._tasks:
            msg = f"task {name!r} is registered twice"
            raise ValueError(msg)
        try:
            cadence = Cadence.parse(
                cron=cron,
                every_s=None if every is None else _seconds(every),
                timezone=timezone,
                allow_seconds=True,
                min_every_s=1,
            )
        except CadenceError as exc:
            msg = f"task {name!r}: {exc}"
            raise ValueError(msg) from None

        def register(fn: TaskFn) -> TaskFn:
            self._tasks[name] = TaskSpec(name, cadence, fn)
            if not any(w.name == SYSTEM_TASKS for w in self._workers):
                self._workers.append(
                    EventWorker(SYSTEM_TASKS, TaskDueV1.event_type, TASKS_DUE, self._run_task)
                )
            return fn

        return register

    def on_event(
        self, event_type: str, *, name: str | None = None
    ) -> Callable[[WorkerFn], WorkerFn]:
        """Register a worker for a catalogue event type (``ixo.alert.triggered.v1``...)."""
        if CATALOGUE.payload(event_type) is None:
            msg = f"on_event: unknown event type {event_type!r}"
            raise ValueError(msg)
        topic = CATALOGUE.topic_for_type(event_type)

        def register(fn: WorkerFn) -> WorkerFn:
            worker_name = name or fn.__name__
            if any(w.name == worker_name for w in self._workers):
                msg = f"worker {worker_name!r} is registered twice"
                raise ValueError(msg)
            self._workers.append(EventWorker(worker_name, event_type, topic, fn))
            return fn

        return register

    @property
    def tasks(self) -> Mapping[str, TaskSpec]:
        return dict(self._tasks)

    @property
    def workers(self) -> Sequence[EventWorker]:
        return tuple(self._workers)

    def workers_for(self, event_type: str) -> list[EventWorker]:
        return [w for w in self._workers if w.event_type == event_type]

    def topics(self) -> list[Topic]:
        """The topics the workers consume, each once, in registration order."""
        return list({w.topic.name: w.topic for w in self._workers}.values())

    def copy(self) -> Registry:
        """A registry with the same tasks and workers, to extend without touching this one."""
        other = Registry()
        other._tasks = dict(self._tasks)
        other._workers = [
            EventWorker(w.name, w.event_type, w.topic, other._run_task)
            if w.name == SYSTEM_TASKS
            else w
            for w in self._workers
        ]
        return other

    async def _run_task(self, event: AnyEvent, ctx: WorkerContext) -> Sequence[Emit]:
        due = event.data
        if not isinstance(due, TaskDueV1) or due.schedule_id is not None:
            return ()
        spec = self._tasks.get(due.task_id)
        if spec is None:
            return ()
        return await spec.fn(due, ctx)


REGISTRY: Final = Registry()
"""The registry ``ixo run scheduler`` runs: the built-in workers register here on import."""

task = REGISTRY.task
on_event = REGISTRY.on_event
