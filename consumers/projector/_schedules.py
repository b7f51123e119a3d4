"""The ``schedules`` projection: every user schedule, for ``GET /v1/schedules``, ``ixo schedules
list`` and the bots' ``/schedules``. A deleted schedule stays as a tombstone."""

from __future__ import annotations

from datetime import UTC
from typing import Any, ClassVar

from consumers.projector._entities import EntityProjection
from readmodels import ReadModel, Schedule
from schemas import SCHEDULES, AnyEvent, EventData, ScheduleCreatedV1, ScheduleDeletedV1, Topic


class SchedulesProjection(EntityProjection):
    """Maps ``ixo.schedule.created.v1`` / ``.deleted.v1`` to ``schedules`` rows."""

    name: ClassVar[str] = "schedules"
    topic: ClassVar[Topic] = SCHEDULES
    document: ClassVar[type[ReadModel]] = Schedule
    key_field: ClassVar[str] = "schedule_id"
    alive: ClassVar[tuple[type[EventData], ...]] = (ScheduleCreatedV1,)
    dead: ClassVar[tuple[type[EventData], ...]] = (ScheduleDeletedV1,)

    def live_doc(self, event: AnyEvent, data: ScheduleCreatedV1) -> dict[str, Any]:
        return {
            "user_id": data.user_id,
            "task": data.task,
            "cron": data.cron,
            "every_s": data.every_s,
            "timezone": data.timezone,
            "prompt": data.prompt,
            "channel": data.channel,
            "chat_id": data.chat_id,
            "created_at": event.time.astimezone(UTC),
        }

    def tombstone_doc(self, event: AnyEvent, data: ScheduleDeletedV1) -> dict[str, Any]:
        return {
            "user_id": data.user_id,
            "task": None,
            "cron": None,
            "every_s": None,
            "prompt": None,
            "chat_id": None,
        }
