"""The operator's queries and commands on the platform itself (issue 14): trace a correlation id,
consumer lag, dead letters and their requeue, projection replays, the AsyncAPI documents.

Shared by the gateway's ``/v1/ops`` and ``/v1/trace`` routes and the CLI (``ixo trace``,
``ixo lag``, ``ixo dlq``, ``ixo schemas export``). Only operators reach it: the gateway checks the
operator scope, the CLI is the operator's own tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import pkgutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from aiokafka.errors import KafkaError
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from consumers.projector import (
    MAX_TRACE_LIMIT,
    PROJECTIONS,
    TRACE,
    ProjectionStore,
    RedisTraceIndex,
    TraceEntry,
    replay,
)
from infra.kafka import (
    LagRow,
    RawRecord,
    RequeueResult,
    UnknownGroup,
    consumer_lag,
    dlq_overview,
    offsets_consumer,
    read_all,
    requeue,
    topic_partitions,
)
from infra.redis import key_prefix
from infra.settings import Settings
from schemas import CATALOGUE, IxoError, Topic, TransientError, UnknownTopic
from services._commands import NotFound

log = logging.getLogger(__name__)

MAX_DLQ_RECORDS: Final = 1000
"""The most dead letters one listing returns."""
MAX_REQUEUE: Final = 10_000
"""The most dead letters one requeue republishes."""
REPLAYS_KEPT: Final = 50
"""Finished replays remembered (for their progress route)."""

ReplayState = Literal["running", "done", "failed"]


@contextlib.contextmanager
def _kafka_errors(settings: Settings) -> Iterator[None]:
    """Kafka's own errors as :class:`TransientError` (the gateway answers 503)."""
    try:
        yield
    except KafkaError as exc:
        msg = f"Kafka at {settings.kafka_bootstrap}: {type(exc).__name__}: {exc}"
        raise TransientError(msg) from None


class ReplayBusy(IxoError):  # noqa: N818 - reads as what happened
    """A replay of that projection is already running (one at a time per projection)."""


@dataclass(frozen=True)
class TraceView:
    correlation_id: str
    events: list[TraceEntry]
    total: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "total": self.total,
            "truncated": self.total > len(self.events),
            "events": [e.view() for e in self.events],
        }


@dataclass
class ReplayJob:
    """One replay of a projection run by the gateway, and how far it got."""

    replay_id: str
    projection: str
    since: datetime | None
    by: str
    state: ReplayState = "running"
    records: int = 0
    total: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    error: str | None = None
    result: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        def stamp(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat().replace("+00:00", "Z")

        return {
            "replay_id": self.replay_id,
            "projection": self.projection,
            "state": self.state,
            "records": self.records,
            "total": self.total,
            "since": stamp(self.since),
            "by": self.by,
            "started_at": stamp(self.started_at),
            "finished_at": stamp(self.finished_at),
            "error": self.error,
            "result": self.result,
        }


class ReplayJobs:
    """Replays running as background tasks of this process, one at a time per projection (the
    projector's ``replay``: a fresh collection swapped in, or a repair since a time)."""

    def __init__(self, settings: Settings, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._settings = settings
        self._database = database
        self._jobs: dict[str, ReplayJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, projection: str, *, since: datetime | None, by: str) -> ReplayJob:
        if projection not in PROJECTIONS:
            known = ", ".join(PROJECTIONS)
            msg = f"no projection {projection!r} to replay (known: {known})"
            raise NotFound(msg)
        running = [j for j in self._jobs.values() if j.projection == projection]
        busy = next((j for j in running if j.state == "running"), None)
        if busy is not None:
            msg = f"a replay of {projection} is running already: {busy.replay_id}"
            raise ReplayBusy(msg)
        job = ReplayJob(str(uuid.uuid4()), projection, since, by)
        self._jobs[job.replay_id] = job
        self._forget_old()
        self._tasks[job.replay_id] = asyncio.create_task(
            self._run(job), name=f"replay-{projection}"
        )
        log.info(
            "replay started",
            extra={"replay_id": job.replay_id, "projection": projection, "by": by},
        )
        return job

    def get(self, replay_id: str) -> ReplayJob | None:
        return self._jobs.get(replay_id)

    def _forget_old(self) -> None:
        done = [j for j in self._jobs.values() if j.state != "running"]
        for job in sorted(done, key=lambda j: j.started_at)[: max(0, len(done) - REPLAYS_KEPT)]:
            del self._jobs[job.replay_id]

    async def _run(self, job: ReplayJob) -> None:
        settings = self._settings
        projection = PROJECTIONS[job.projection]
        topic = projection.topic.full_name(settings.topic_prefix)

        def progress(done: int, total: int) -> None:
            job.records, job.total = done, total

        try:
            async with offsets_consumer(settings) as consumer:
                await topic_partitions(consumer, topic, settings)
                store = ProjectionStore(self._database)
                result = await replay(
                    store, projection, consumer, topic, since=job.since, progress=progress
                )
        except asyncio.CancelledError:
            job.state, job.error = "failed", "cancelled: the gateway stopped"
            raise
        except Exception as exc:  # reported on the job: the route shows it
            log.exception("replay failed", extra={"replay_id": job.replay_id})
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"[:1000]
        else:
            job.state = "done"
            job.records = result.records
            job.total = max(job.total, result.records)
            job.result = {
                "collection": result.collection,
                "records": result.records,
                "invalid": result.invalid,
                "seconds": round(result.seconds, 3),
                "swapped": result.swapped,
            }
        finally:
            job.finished_at = datetime.now(UTC)
            self._tasks.pop(job.replay_id, None)

    async def close(self) -> None:
        """Cancel the replays still running (the process stops)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def dead_letter_topic(name: str, settings: Settings) -> Topic:
    """The dead-letter topic ``name`` stands for (the DLQ itself or the topic it belongs to,
    prefixed or not); :class:`NotFound` for a name outside the catalogue."""
    try:
        return CATALOGUE.topic(name, settings.topic_prefix).dlq
    except UnknownTopic as exc:
        raise NotFound(str(exc)) from None


def consumer_apps() -> list[str]:
    """The consumer packages that build a FastStream app (``consumers.<name>.app:build_app``)."""
    import consumers

    found = []
    for info in pkgutil.iter_modules(consumers.__path__):
        if info.ispkg and importlib.util.find_spec(f"consumers.{info.name}.app") is not None:
            found.append(info.name)
    return sorted(found)


def asyncapi_document(settings: Settings, component: str) -> dict[str, Any]:
    """The AsyncAPI 3 document FastStream generates for one consumer app, built with
    ``settings`` (building contacts no service)."""
    module = importlib.import_module(f"consumers.{component}.app")
    build = getattr(module, "build_app", None)
    if build is None:
        msg = f"consumers.{component} has no FastStream app"
        raise NotFound(msg)
    app = build(settings)
    spec = app.schema.to_specification()
    document: dict[str, Any] = spec.to_jsonable()
    return document


def merge_asyncapi(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One AsyncAPI document of every consumer app: their channels, operations and components
    side by side (their names already carry the consumer group), ``x-components`` says which
    app each channel belongs to."""
    merged: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Impressox consumers",
            "version": "0.1.0",
            "description": "Every consumer app's subscriptions (generated by FastStream); "
            "the topic catalogue is in catalogue.json (`ixo schemas export`).",
        },
        "channels": {},
        "operations": {},
        "components": {"messages": {}, "schemas": {}},
        "x-components": {},
    }
    for name, doc in sorted(documents.items()):
        if "servers" in doc and "servers" not in merged:
            merged["servers"] = doc["servers"]
        merged["channels"].update(doc.get("channels", {}))
        merged["operations"].update(doc.get("operations", {}))
        components = doc.get("components", {})
        for part in ("messages", "schemas"):
            merged["components"][part].update(components.get(part, {}))
        merged["x-components"][name] = sorted(doc.get("channels", {}))
    return merged


class OpsService:
    """What an operator asks of the platform (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        database: AsyncDatabase[dict[str, Any]],
        redis: Redis | None,
    ) -> None:
        self.settings = settings
        self._redis = redis
        self.replays = ReplayJobs(settings, database)
        self._requeue_lock = asyncio.Lock()
        self._asyncapi: dict[str, dict[str, Any]] | None = None
        self._asyncapi_lock = asyncio.Lock()

    def _index(self) -> RedisTraceIndex:
        if self._redis is None:
            msg = "the trace index needs Redis (IXO_REDIS_URL)"
            raise NotFound(msg)
        return RedisTraceIndex(
            self._redis,
            key_prefix(self.settings, TRACE),
            ttl_s=self.settings.trace_ttl_s,
            max_events=self.settings.trace_max_events,
        )

    async def trace(self, correlation_id: str, *, limit: int = 1000) -> TraceView:
        """Every indexed event of ``correlation_id`` in time order (the first ``limit``)."""
        limit = max(1, min(limit, MAX_TRACE_LIMIT))
        events, total = await self._index().lookup(correlation_id, limit=limit)
        return TraceView(correlation_id, events, total)

    async def lag(self, group: str | None = None) -> list[LagRow]:
        """Lag per group and partition (``group``: one group, as ``ixo lag --group``)."""
        with _kafka_errors(self.settings):
            try:
                return await consumer_lag(self.settings, group)
            except UnknownGroup as exc:
                raise NotFound(str(exc)) from None

    async def dead_letters(self) -> list[dict[str, Any]]:
        with _kafka_errors(self.settings):
            return await dlq_overview(self.settings)

    async def dead_letter_records(self, topic: str, *, limit: int) -> list[RawRecord]:
        dlq = dead_letter_topic(topic, self.settings)
        full = dlq.full_name(self.settings.topic_prefix)
        try:
            with _kafka_errors(self.settings):
                return await read_all(self.settings, full, max(1, min(limit, MAX_DLQ_RECORDS)))
        except UnknownTopic as exc:  # the catalogue has it, the cluster does not (yet)
            raise NotFound(str(exc)) from None

    async def requeue(
        self, topic: str, *, dry_run: bool, limit: int | None, by: str, source: str
    ) -> RequeueResult:
        """``ixo dlq requeue`` for an operator of this process: one requeue at a time (two at
        once could republish the same dead letter before either recorded it)."""
        dlq = dead_letter_topic(topic, self.settings)
        bounded = None if limit is None else max(1, min(limit, MAX_REQUEUE))
        async with self._requeue_lock:
            try:
                with _kafka_errors(self.settings):
                    return await requeue(
                        self.settings,
                        dlq,
                        limit=bounded if bounded is not None else MAX_REQUEUE,
                        dry_run=dry_run,
                        from_start=False,
                        by=by,
                        source=source,
                    )
            except UnknownTopic as exc:
                raise NotFound(str(exc)) from None

    async def asyncapi(self, component: str | None = None) -> dict[str, Any]:
        """The AsyncAPI document of one consumer app, or of all merged. Built once, in a
        worker thread (building every app takes seconds: the event loop keeps serving)."""
        async with self._asyncapi_lock:
            if self._asyncapi is None:
                self._asyncapi = await asyncio.to_thread(asyncapi_documents, self.settings)
        if component is None:
            return merge_asyncapi(self._asyncapi)
        found = self._asyncapi.get(component.replace("-", "_"))
        if found is None:
            msg = f"no consumer app {component!r} (known: {', '.join(self._asyncapi)})"
            raise NotFound(msg)
        return found

    async def close(self) -> None:
        await self.replays.close()


def asyncapi_documents(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every consumer app's AsyncAPI document, by package name (a consumer that runs no
    FastStream app, like the chain listener, has none)."""
    found: dict[str, dict[str, Any]] = {}
    for name in consumer_apps():
        module = importlib.import_module(f"consumers.{name}.app")
        if getattr(module, "build_app", None) is not None:
            found[name] = asyncapi_document(settings, name)
    return found
