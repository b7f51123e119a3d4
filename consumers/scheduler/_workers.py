"""Event-driven work: the dispatcher that runs registered workers on consumed events, and the
built-in worker that turns a due slot of a user schedule into what the user receives.

- a ``prompt`` schedule becomes an ``ixo.chat.message.received.v1`` on the schedule's chat
  session; the orchestrator answers it and the bot of that session (``telegram:<chat>``,
  ``discord:<channel>``) delivers the answer, like any chat request;
- an ``alert_digest`` schedule becomes an ``ixo.chat.response.completed.v1`` on that session,
  composed here from the ``alerts`` read model (the user's alerts since the previous slot), so
  the same bots deliver it without going through the agent.

A schedule deleted after its slot was published is skipped. Every event id derives from the
due event's id, so a redelivered due event publishes the same ids; a (worker, event) pair done
once is remembered and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final, Protocol

from consumers.scheduler._digest import digest_text
from consumers.scheduler._registry import REGISTRY, EventWorker, Registry
from consumers.scheduler._slots import derived_event_id
from consumers.scheduler._types import (
    Emit,
    EventSink,
    HandledStore,
    WorkerContext,
    schedule_session,
)
from schemas import (
    AnyEvent,
    ChatMessageReceivedV1,
    ChatResponseCompletedV1,
    CloudEvent,
    TaskDueV1,
)

log = logging.getLogger(__name__)

MAX_DIGEST_SPAN: Final = timedelta(days=31)
MAX_DIGEST_ALERTS: Final = 1000


class HasEvent(Protocol):
    @property
    def event(self) -> AnyEvent: ...


@REGISTRY.on_event(TaskDueV1.event_type)
async def user_schedules(event: AnyEvent, ctx: WorkerContext) -> Sequence[Emit]:
    """A due slot of a user schedule: the prompt as a chat request, or the alert digest."""
    due = event.data
    if not isinstance(due, TaskDueV1) or due.schedule_id is None:
        return ()
    spec = await ctx.schedules.get(due.schedule_id)
    if spec is None:
        log.info(
            "schedule gone; due slot skipped",
            extra={"schedule_id": due.schedule_id, "slot_id": due.slot_id},
        )
        return ()
    data = spec.data
    session = schedule_session(data)
    if data.task == "prompt":
        if not data.prompt:
            return ()
        request = ChatMessageReceivedV1(
            session_id=session, user_id=data.user_id, channel=data.channel, text=data.prompt
        )
        return (Emit(request, "prompt"),)
    cadence = spec.cadence()
    start = max(cadence.previous(due.slot), due.slot - MAX_DIGEST_SPAN)
    alerts = await ctx.alerts.between(data.user_id, start, due.slot, MAX_DIGEST_ALERTS)
    text = digest_text(alerts, start=start, end=due.slot, tz=cadence.zone)
    digest = ChatResponseCompletedV1(
        session_id=session, request_id=event.id, text=text, user_id=data.user_id
    )
    return (Emit(digest, "digest"),)


class Dispatcher:
    """The batch handler of the workers' subscribers: runs every worker registered for each
    event's type (events of one key in order, keys in parallel) and publishes what they emit."""

    def __init__(
        self,
        registry: Registry,
        ctx: WorkerContext,
        sink: EventSink,
        handled: HandledStore,
        *,
        source: str,
        concurrency: int = 16,
    ) -> None:
        self._registry = registry
        self._ctx = ctx
        self._sink = sink
        self._handled = handled
        self._source = source
        self._limit = asyncio.Semaphore(concurrency)

    async def handle(self, batch: Sequence[HasEvent]) -> None:
        by_key: dict[str, list[AnyEvent]] = defaultdict(list)
        for item in batch:
            by_key[item.event.subject].append(item.event)
        results = await asyncio.gather(
            *(self._in_order(events) for events in by_key.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _in_order(self, events: Sequence[AnyEvent]) -> None:
        async with self._limit:
            for event in events:
                for worker in self._registry.workers_for(event.type):
                    await self.run(worker, event)

    async def run(self, worker: EventWorker, event: AnyEvent) -> list[CloudEvent[Any]]:
        """Run one worker on one event, unless done before; returns what was published."""
        key = f"{worker.name}:{event.id}"
        if await self._handled.seen(key):
            return []
        emits = await worker.fn(event, self._ctx)
        out: list[CloudEvent[Any]] = [
            CloudEvent.new(
                emit.data,
                source=self._source,
                causation=event,
                event_id=derived_event_id(event.id, f"{worker.name}:{emit.what}"),
                time=self._ctx.clock(),
            )
            for emit in emits
        ]
        if out:
            await self._sink.publish(out)
            log.info(
                "worker published",
                extra={
                    "worker": worker.name,
                    "event_id": event.id,
                    "published": [e.id for e in out],
                },
            )
        await self._handled.mark(key)
        return out
