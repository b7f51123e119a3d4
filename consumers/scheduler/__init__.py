"""The scheduler: a task registry (``@task`` on a cadence, ``@on_event`` for event workers),
a clock that publishes one ``ixo.task.due.v1`` per time slot of every system task and user
schedule (once, however many processes run; missed slots caught up after a restart), and the
workers that turn due slots of users' schedules into chat requests (agent prompts) and alert
digests.

The FastStream app lives in :mod:`consumers.scheduler.app` (``ixo run scheduler``); this
package's public API is the registry, slot computation, the core and its Redis adapters, usable
without a broker.
"""

from consumers.scheduler._cadence import Cadence, CadenceError, zone
from consumers.scheduler._clock import Clock, ManualClock, system_clock
from consumers.scheduler._digest import digest_text
from consumers.scheduler._redis import RedisBook, RedisHandled, RedisLedger
from consumers.scheduler._registry import (
    REGISTRY,
    EventWorker,
    Registry,
    TaskFn,
    TaskSpec,
    WorkerFn,
    on_event,
    task,
)
from consumers.scheduler._scheduler import (
    SOURCE,
    Job,
    Scheduler,
    SchedulerConfig,
    due_event,
    schedule_job,
    task_job,
)
from consumers.scheduler._slots import (
    NAMESPACE,
    derived_event_id,
    due_event_id,
    slot_id,
    slot_time,
    task_key,
)
from consumers.scheduler._types import (
    AlertLine,
    AlertReads,
    ClaimState,
    Emit,
    EventSink,
    HandledStore,
    ScheduleSource,
    ScheduleSpec,
    SlotLedger,
    WorkerContext,
    schedule_session,
)
from consumers.scheduler._workers import Dispatcher, user_schedules  # registers the built-ins

__all__ = [
    "NAMESPACE",
    "REGISTRY",
    "SOURCE",
    "AlertLine",
    "AlertReads",
    "Cadence",
    "CadenceError",
    "ClaimState",
    "Clock",
    "Dispatcher",
    "Emit",
    "EventSink",
    "EventWorker",
    "HandledStore",
    "Job",
    "ManualClock",
    "RedisBook",
    "RedisHandled",
    "RedisLedger",
    "Registry",
    "ScheduleSource",
    "ScheduleSpec",
    "Scheduler",
    "SchedulerConfig",
    "SlotLedger",
    "TaskFn",
    "TaskSpec",
    "WorkerContext",
    "WorkerFn",
    "derived_event_id",
    "digest_text",
    "due_event",
    "due_event_id",
    "on_event",
    "schedule_job",
    "schedule_session",
    "slot_id",
    "slot_time",
    "system_clock",
    "task",
    "task_job",
    "task_key",
    "user_schedules",
    "zone",
]
