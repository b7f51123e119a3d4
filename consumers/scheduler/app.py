"""FastStream wiring of the scheduler: ``build_app(settings)``; ``ixo run scheduler`` runs it.

Every process runs the clock loop (a tick every ``tick_s``) and joins two kinds of consumer
groups (prefixed): ``ixo.scheduler.schedules.<epoch>`` folds the compacted ``ixo.schedules``
into the Redis book every process reads (the epoch lives in Redis beside the book, so a Redis
that lost the book gets a new group that refolds the topic from the start), and
``ixo.scheduler.workers.<topic>`` runs the registered workers on their topics (``ixo.tasks.due``
for the built-in ones). All shared state is in Redis, so any number of scheduler processes run
side by side: each slot is fired once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from faststream import FastStream
from faststream.kafka import KafkaBroker

from consumers.scheduler import (
    REGISTRY,
    SOURCE,
    AlertLine,
    Clock,
    Dispatcher,
    RedisBook,
    RedisHandled,
    RedisLedger,
    Registry,
    Scheduler,
    SchedulerConfig,
    WorkerContext,
    system_clock,
)
from infra.kafka import EventPublisher, make_broker, subscribe
from infra.mongo import mongo_client, open_database
from infra.redis import key_prefix as _key_prefix
from infra.redis import redis_client
from infra.settings import Settings, get_settings
from readmodels import ReadModels
from schemas import SCHEDULES, AnyEvent, TransientError

log = logging.getLogger(__name__)

GROUP_SCHEDULES: Final = "ixo.scheduler.schedules"
GROUP_WORKERS: Final = "ixo.scheduler.workers."
REDIS_COMPONENT: Final = "sched"
STOP_TIMEOUT_S: Final = 10.0


def schedules_group(epoch: str) -> str:
    """The consumer group (before the topic prefix) that folds the book of ``epoch``."""
    return f"{GROUP_SCHEDULES}.{epoch}"


def key_prefix(settings: Settings) -> str:
    """The Redis key prefix of the scheduler's state (the deployment's topic prefix included)."""
    return _key_prefix(settings, REDIS_COMPONENT)


class KafkaSink:
    """Publishes events (all in flight at once) and returns when Kafka acknowledged them."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, events: Sequence[AnyEvent]) -> None:
        """Kafka's errors arrive mapped (:class:`TransientError` / :class:`PermanentError`)."""
        await self._publisher.publish_many(events)


class ReadModelAlerts:
    """:class:`consumers.scheduler.AlertReads` over the ``alerts`` read model."""

    def __init__(self, reads: ReadModels) -> None:
        self._reads = reads

    async def between(
        self, user_id: str, start: datetime, end: datetime, limit: int
    ) -> list[AlertLine]:
        found = await self._reads.alerts_between(user_id, start, end, limit=limit)
        return [AlertLine(a.rule_id, a.symbol, a.price, a.condition, a.triggered_at) for a in found]


async def clock_loop(
    scheduler: Scheduler, clock: Clock, tick_s: float, stop: asyncio.Event
) -> None:
    """Tick until ``stop`` is set; a failing tick is logged and retried on the next one."""
    while not stop.is_set():
        try:
            await scheduler.tick(clock())
        except TransientError as exc:
            log.warning("scheduler tick failed; retrying", extra={"error": str(exc)})
        except Exception:
            log.exception("scheduler tick failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick_s)


class ClockTask:
    """The clock loop as the app's background task: started once the broker runs, stopped (and
    awaited, at most :data:`STOP_TIMEOUT_S`) when the app shuts down."""

    def __init__(self, scheduler: Scheduler, clock: Clock, tick_s: float) -> None:
        self._scheduler = scheduler
        self._clock = clock
        self._tick_s = tick_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(
            clock_loop(self._scheduler, self._clock, self._tick_s, self._stop),
            name="ixo-scheduler-clock",
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(task, STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("the scheduler's clock did not stop in time; cancelled")


class BookFold:
    """The subscriber folding ``ixo.schedules`` into the book. Its group is known only once
    Redis says which book it fills, so it is added at startup (before the broker starts, so it
    starts with the others), once per app."""

    def __init__(self, broker: KafkaBroker, settings: Settings, book: RedisBook) -> None:
        self._broker = broker
        self._settings = settings
        self._book = book
        self.subscribed = False

    async def subscribe(self) -> None:
        if self.subscribed:
            return
        group = schedules_group(await self._book.epoch())
        subscribe(self._broker, self._settings, SCHEDULES, group=group, handler=self._book.fold)
        self.subscribed = True


def build_app(
    settings: Settings | None = None,
    config: SchedulerConfig | None = None,
    *,
    registry: Registry = REGISTRY,
    clock: Clock = system_clock,
) -> FastStream:
    """The scheduler app. ``config``, ``registry`` and ``clock`` are for tests and embedding;
    ``ixo run scheduler`` uses the defaults (1 s ticks, 24 h catch-up, the system clock).
    ``settings`` default to the environment's; building contacts nothing (the clients connect
    on first use), so ``faststream docs gen --factory consumers.scheduler.app:build_app`` works
    offline (the book's fold, subscribed at startup, is not in that document)."""
    settings = settings or get_settings()
    config = config or SchedulerConfig()
    broker = make_broker(settings, client_id="ixo-scheduler")
    publisher = EventPublisher(broker, settings)
    redis = redis_client(settings)
    prefix = key_prefix(settings)
    sink = KafkaSink(publisher)
    book = RedisBook(redis, prefix)
    done_ttl = config.catch_up + timedelta(days=1)
    ledger = RedisLedger(
        redis, prefix, lease_s=config.lease_s, done_ttl_s=int(done_ttl.total_seconds())
    )
    scheduler = Scheduler(ledger, book, sink, tasks=registry.tasks, config=config)
    mongo = mongo_client(settings)
    reads = ReadModels(mongo[settings.mongodb_database])
    ctx = WorkerContext(schedules=book, alerts=ReadModelAlerts(reads), clock=clock)
    dispatcher = Dispatcher(registry, ctx, sink, RedisHandled(redis, prefix), source=SOURCE)

    for topic in registry.topics():
        subscribe(
            broker,
            settings,
            topic,
            group=GROUP_WORKERS + topic.name,
            handler=dispatcher.handle,
            max_records=100,
        )
    fold = BookFold(broker, settings, book)
    ticking = ClockTask(scheduler, clock, config.tick_s)

    async def connect() -> None:
        await open_database(settings, mongo)
        await fold.subscribe()

    async def close() -> None:
        await redis.aclose()
        await mongo.close()

    return FastStream(
        broker,
        on_startup=[connect],
        after_startup=[ticking.start],
        on_shutdown=[ticking.stop],
        after_shutdown=[close],
    )
