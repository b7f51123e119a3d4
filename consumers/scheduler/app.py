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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

from faststream import FastStream
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

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
from consumers.scheduler._rebuild import SchedulerRebuildSummary, rebuild
from infra.kafka import Delivery, EventPublisher, KafkaLog, make_broker, subscribe
from infra.mongo import mongo_client, open_database
from infra.redis import StateEpoch, redis_client
from infra.redis import key_prefix as _key_prefix
from infra.settings import Settings, get_settings
from readmodels import ReadModels
from schemas import SCHEDULES, TASKS_DUE, AnyEvent, TransientError

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


class KafkaSchedulerSource:
    """What a rebuild of the scheduler's Redis state reads (``_rebuild.SchedulerRebuildSource``)."""

    def __init__(self, settings: Settings) -> None:
        self._schedules = KafkaLog(settings, SCHEDULES)
        self._due = KafkaLog(settings, TASKS_DUE)

    async def schedules(self) -> list[Delivery]:
        return await self._schedules.latest()

    async def fired(self, since_ms: int) -> AsyncIterator[Delivery]:
        async for item in self._due.read(await self._due.offsets_at(since_ms)):
            yield item


def state_epoch(settings: Settings, redis: Redis) -> StateEpoch:
    """The generation marker of the scheduler's Redis state (missing: rebuild before ticking).
    A rebuild keeps ``book-epoch``, which names the running processes' fold group (after a real
    loss it is gone anyway, and the next process to start folds under a new one)."""
    return StateEpoch(redis, key_prefix(settings), keep=("book-epoch",))


def restorer(
    settings: Settings, config: SchedulerConfig, redis: Redis, clock: Clock = system_clock
) -> Callable[[], Awaitable[SchedulerRebuildSummary]]:
    """The rebuild of the scheduler's state under ``redis`` (``_rebuild.py``)."""
    prefix = key_prefix(settings)
    source = KafkaSchedulerSource(settings)
    done_ttl = int((config.catch_up + timedelta(days=1)).total_seconds())

    async def restore() -> SchedulerRebuildSummary:
        return await rebuild(
            RedisBook(redis, prefix),
            RedisLedger(redis, prefix, lease_s=config.lease_s, done_ttl_s=done_ttl),
            source,
            now=clock(),
            catch_up=config.catch_up,
        )

    return restore


async def rebuild_state(
    settings: Settings, config: SchedulerConfig | None = None, *, force: bool = True
) -> SchedulerRebuildSummary | None:
    """Rebuild the scheduler's Redis state from Kafka now (``ixo rebuild redis``); running
    schedulers wait for it at their next tick. Returns what was restored, or None if nothing
    had to be."""
    redis = redis_client(settings)
    found: list[SchedulerRebuildSummary] = []
    restore = restorer(settings, config or SchedulerConfig(), redis)

    async def run() -> None:
        found.append(await restore())

    try:
        epoch = state_epoch(settings, redis)
        if force:
            await epoch.force(run)
        else:
            await epoch.ensure(run)
    finally:
        await redis.aclose()
    return found[0] if found else None


async def clock_loop(
    scheduler: Scheduler,
    clock: Clock,
    tick_s: float,
    stop: asyncio.Event,
    *,
    before: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Tick until ``stop`` is set; a failing tick is logged and retried on the next one.
    ``before`` runs first on each tick (the state's marker check)."""
    while not stop.is_set():
        try:
            if before is not None:
                await before()
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

    def __init__(
        self,
        scheduler: Scheduler,
        clock: Clock,
        tick_s: float,
        *,
        before: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._clock = clock
        self._tick_s = tick_s
        self._before = before
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(
            clock_loop(self._scheduler, self._clock, self._tick_s, self._stop, before=self._before),
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

    def __init__(
        self,
        broker: KafkaBroker,
        settings: Settings,
        book: RedisBook,
        *,
        before: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._broker = broker
        self._settings = settings
        self._book = book
        self._before = before
        self.subscribed = False

    async def _fold(self, batch: Sequence[Delivery]) -> None:
        if self._before is not None:
            await self._before()
        await self._book.fold(batch)

    async def subscribe(self) -> None:
        if self.subscribed:
            return
        group = schedules_group(await self._book.epoch())
        subscribe(self._broker, self._settings, SCHEDULES, group=group, handler=self._fold)
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
    epoch = state_epoch(settings, redis)
    restore = restorer(settings, config, redis, clock)

    async def check() -> None:
        await epoch.ensure(restore)

    async def work(batch: Sequence[Delivery]) -> None:
        await check()
        await dispatcher.handle(batch)

    for topic in registry.topics():
        subscribe(
            broker,
            settings,
            topic,
            group=GROUP_WORKERS + topic.name,
            handler=work,
            max_records=100,
        )
    fold = BookFold(broker, settings, book, before=check)
    ticking = ClockTask(scheduler, clock, config.tick_s, before=check)

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
