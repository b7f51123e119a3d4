"""In-memory implementations of the scheduler's Protocols: its slot ledger, its schedule source
and its event sink (the slot ledger's contract suite runs on this one and on Redis's)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from consumers.scheduler import ClaimState, ScheduleSpec
from schemas import AnyEvent, TaskDueV1, TransientError


class MemoryLedger:
    """:class:`consumers.scheduler.SlotLedger` in dicts, for one process. A claim holds for
    ``lease_s`` seconds (None: until released or done), like Redis's ``PX`` lease."""

    def __init__(self, lease_s: float | None = None) -> None:
        self.lease_s = lease_s
        self.throughs: dict[str, datetime] = {}
        self.slots: dict[str, str] = {}
        self._lease_ends: dict[str, float] = {}

    async def through(self, key: str) -> datetime | None:
        return self.throughs.get(key)

    async def start(self, key: str, at: datetime) -> datetime:
        return self.throughs.setdefault(key, at)

    async def advance(self, key: str, slot: datetime) -> None:
        if slot > self.throughs.get(key, slot - timedelta(1)):
            self.throughs[key] = slot

    async def claim(self, slot_id: str, token: str) -> ClaimState:
        held = self.slots.get(slot_id)
        if held == "done":
            return "done"
        if held is not None and self._lease_ends.get(slot_id, math.inf) > time.monotonic():
            return "busy"
        self.slots[slot_id] = token
        if self.lease_s is not None:
            self._lease_ends[slot_id] = time.monotonic() + self.lease_s
        return "claimed"

    async def done(self, slot_id: str) -> None:
        self.slots[slot_id] = "done"
        self._lease_ends.pop(slot_id, None)

    async def release(self, slot_id: str, token: str) -> None:
        if self.slots.get(slot_id) == token:
            del self.slots[slot_id]
            self._lease_ends.pop(slot_id, None)


class MemoryBook:
    """:class:`consumers.scheduler.ScheduleSource` over fixed schedules."""

    def __init__(self, *specs: ScheduleSpec) -> None:
        self.specs = {s.schedule_id: s for s in specs}

    async def live(self) -> Mapping[str, ScheduleSpec]:
        return dict(self.specs)

    async def get(self, schedule_id: str) -> ScheduleSpec | None:
        return self.specs.get(schedule_id)


class MemorySink:
    """:class:`consumers.scheduler.EventSink` keeping what it is given; ``fail`` makes each
    publish raise :class:`TransientError` (Kafka unavailable)."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self.fail = False

    async def publish(self, events: Sequence[AnyEvent]) -> None:
        if self.fail:
            msg = "Kafka unavailable"
            raise TransientError(msg)
        self.events.extend(events)

    def slots(self) -> list[str]:
        return [e.data.slot_id for e in self.events if isinstance(e.data, TaskDueV1)]
