"""Shared types of the scheduler: a user's schedule as the scheduler sees it, what a worker
emits, and the small Protocols the core depends on (Redis, Kafka and MongoDB adapters satisfy
them in :mod:`consumers.scheduler.app`; tests can run the core on the same real adapters)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from consumers.scheduler._cadence import Cadence
from consumers.scheduler._clock import Clock
from schemas import AnyEvent, EventData, ScheduleCreatedV1

ClaimState = Literal["claimed", "done", "busy"]
"""``claimed``: this process fires the slot; ``done``: it was fired; ``busy``: another process
holds the slot's lease right now."""

_SESSION = re.compile(r"^[A-Za-z0-9_.:@\-]{1,200}$")


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A live user schedule: its last ``ixo.schedule.created.v1`` and when it was created."""

    data: ScheduleCreatedV1
    created_at: datetime

    @property
    def schedule_id(self) -> str:
        return self.data.schedule_id

    @property
    def user_id(self) -> str:
        return self.data.user_id

    def cadence(self) -> Cadence:
        """Raises :class:`consumers.scheduler.CadenceError` for a schedule that slipped past
        validation (published raw on the topic)."""
        d = self.data
        return Cadence.parse(cron=d.cron, every_s=d.every_s, timezone=d.timezone)


def schedule_session(data: ScheduleCreatedV1) -> str:
    """The chat session a schedule's messages go to: ``telegram:<chat id>`` or
    ``discord:<channel id>`` (the bot delivers them), else ``chat_id`` (a web session the user
    follows over SSE), else ``schedule:<schedule id>``."""
    if data.channel in ("telegram", "discord") and data.chat_id:
        return f"{data.channel}:{data.chat_id}"
    if data.chat_id and _SESSION.match(data.chat_id):
        return data.chat_id
    return f"schedule:{data.schedule_id}"


@dataclass(frozen=True, slots=True)
class Emit:
    """An event a worker wants published. ``what`` is unique among what one worker emits for
    one cause: the event id is derived from the cause's id, the worker's name and ``what``."""

    data: EventData
    what: str


@dataclass(frozen=True, slots=True)
class AlertLine:
    """One past rule match of a user (from the ``alerts`` read model)."""

    rule_id: str
    symbol: str
    price: str
    condition: Mapping[str, Any]
    triggered_at: datetime


class SlotLedger(Protocol):
    """Shared progress of every task: how far it has fired, and a claim per slot."""

    async def through(self, key: str) -> datetime | None:
        """Every slot of ``key`` up to this instant is fired (None: never seen)."""
        ...

    async def start(self, key: str, at: datetime) -> datetime:
        """Set ``through`` to ``at`` unless set already; returns the stored value."""
        ...

    async def advance(self, key: str, slot: datetime) -> None:
        """Move ``through`` forward to ``slot`` (never backwards)."""
        ...

    async def claim(self, slot_id: str, token: str) -> ClaimState: ...

    async def done(self, slot_id: str) -> None: ...

    async def release(self, slot_id: str, token: str) -> None: ...


class ScheduleSource(Protocol):
    """The live user schedules (folded from the compacted ``ixo.schedules``)."""

    async def live(self) -> Mapping[str, ScheduleSpec]: ...

    async def get(self, schedule_id: str) -> ScheduleSpec | None: ...


class EventSink(Protocol):
    """Publishes events and returns once Kafka acknowledged all of them."""

    async def publish(self, events: Sequence[AnyEvent]) -> None: ...


class AlertReads(Protocol):
    async def between(
        self, user_id: str, start: datetime, end: datetime, limit: int
    ) -> list[AlertLine]:
        """The user's alerts with ``start < triggered_at <= end``, oldest first."""
        ...


class HandledStore(Protocol):
    """Remembers which (worker, event) pairs were handled, so a redelivered event is skipped."""

    async def seen(self, key: str) -> bool: ...

    async def mark(self, key: str) -> None: ...


@dataclass(frozen=True)
class WorkerContext:
    """What workers and system tasks may use."""

    schedules: ScheduleSource
    alerts: AlertReads
    clock: Clock
