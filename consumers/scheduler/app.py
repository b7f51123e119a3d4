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
from typing import Any, Final

from aiokafka.errors import KafkaError
from faststream import FastStream
from pymongo.errors import PyMongoError
from redis.asyncio import Redis

from consumers.projector import Alert
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
from infra.mongo import init_read_models, mongo_client
from infra.settings import Settings
from schemas import SCHEDULES, AnyEvent, TransientError

log = logging.getLogger(__name__)

GROUP_SCHEDULES: Final = "ixo.scheduler.schedules"
GROUP_WORKERS: Final = "ixo.scheduler.workers."
REDIS_TIMEOUT_S: Final = 10.0
STOP_TIMEOUT_S: Final = 10.0


def schedules_group(epoch: str) -> str:
    """The consumer group (before the topic prefix) that folds the book of ``epoch``."""
    return f"{GROUP_SCHEDULES}.{epoch}"


def key_prefix(settings: Settings) -> str:
    """The Redis key prefix of the scheduler's state (the deployment's topic prefix included)."""
    return f"{settings.topic_prefix}ixo:sched:"


def redis_client(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )


class KafkaSink:
    """Publishes events (all in flight at once) and returns when Kafka acknowledged them."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, events: Sequence[AnyEvent]) -> None:
        try:
            futures = [await self._publisher.send(e) for e in events]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            msg = f"Kafka unavailable: {exc}"
            raise TransientError(msg) from None


class ReadModelAlerts:
    """:class:`consumers.scheduler.AlertReads` over the ``alerts`` projection."""

    async def between(
        self, user_id: str, start: datetime, end: datetime, limit: int
    ) -> list[AlertLine]:
        try:
            found = await Alert.find(
                Alert.user_id == user_id,
                Alert.triggered_at > start,
                Alert.triggered_at <= end,
            ).to_list()
        except PyMongoError as exc:
            msg = f"MongoDB unavailable: {exc}"
            raise TransientError(msg) from None
        found.sort(key=lambda a: (a.triggered_at, a.match_id))
        return [
            AlertLine(a.rule_id, a.symbol, a.price, a.condition, a.triggered_at)
            for a in found[-limit:]
        ]


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


def build_app(
    settings: Settings,
    config: SchedulerConfig | None = None,
    *,
    registry: Registry = REGISTRY,
    clock: Clock = system_clock,
) -> FastStream:
    """The scheduler app. ``config``, ``registry`` and ``clock`` are for tests and embedding;
    ``ixo run scheduler`` uses the defaults (1 s ticks, 24 h catch-up, the system clock)."""
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
    ctx = WorkerContext(schedules=book, alerts=ReadModelAlerts(), clock=clock)
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
    app = FastStream(broker)
    holder: dict[str, Any] = {}

    @app.on_startup
    async def _connect() -> None:
        client = mongo_client(settings)
        holder["mongo"] = client
        await init_read_models(settings, client)
        # The fold's group is known only once Redis says which book it fills (before the
        # broker starts, so the subscriber starts with the others).
        if holder.get("folding"):
            return
        holder["folding"] = True
        subscribe(
            broker,
            settings,
            SCHEDULES,
            group=schedules_group(await book.epoch()),
            handler=book.fold,
        )

    @app.after_startup
    async def _start_clock() -> None:
        stop = asyncio.Event()
        holder["stop"] = stop
        holder["loop"] = asyncio.create_task(
            clock_loop(scheduler, clock, config.tick_s, stop), name="ixo-scheduler-clock"
        )

    @app.on_shutdown
    async def _stop_clock() -> None:
        loop: asyncio.Task[None] | None = holder.pop("loop", None)
        if loop is None:
            return
        holder["stop"].set()
        try:
            await asyncio.wait_for(loop, STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("the scheduler's clock did not stop in time; cancelled")

    @app.after_shutdown
    async def _close() -> None:
        await redis.aclose()
        client = holder.pop("mongo", None)
        if client is not None:
            await client.close()

    return app
