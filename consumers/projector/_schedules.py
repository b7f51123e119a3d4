"""The ``schedules`` projection: every user schedule, for ``GET /v1/schedules``, ``ixo schedules
list`` and the bots' ``/schedules``. A deleted schedule stays as a tombstone so a late, older
event cannot resurrect it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from beanie import Document
from pydantic import Field
from pymongo import IndexModel

from consumers.projector._documents import offset_order
from consumers.projector._rows import Positioned, Row
from schemas import SCHEDULES, ScheduleCreatedV1, ScheduleDeletedV1, Topic


class Schedule(Document):
    """A user schedule as its last event left it."""

    id: str = Field(description="The schedule id")  # type: ignore[assignment]
    schedule_id: str
    user_id: str
    task: str | None = None
    cron: str | None = None
    every_s: int | None = None
    timezone: str = "UTC"
    prompt: str | None = None
    channel: str | None = None
    chat_id: str | None = None
    created_at: datetime | None = None
    deleted: bool = False
    updated_at: datetime
    event_id: str
    order: str

    class Settings:
        name = "schedules"
        # One single-field index: FerretDB 1.24 panics on re-initialising two or a compound one.
        indexes: ClassVar[list[IndexModel]] = [IndexModel("user_id")]


class SchedulesProjection:
    """Maps ``ixo.schedule.created.v1`` / ``.deleted.v1`` to ``schedules`` rows."""

    name: ClassVar[str] = "schedules"
    topic: ClassVar[Topic] = SCHEDULES
    document: ClassVar[type[Document]] = Schedule

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        out = []
        for item in items:
            event, data = item.event, item.event.data
            if not isinstance(data, ScheduleCreatedV1 | ScheduleDeletedV1):
                continue
            order = offset_order(item.partition, item.offset)
            base: dict[str, Any] = {
                "_id": data.schedule_id,
                "schedule_id": data.schedule_id,
                "user_id": data.user_id,
                "updated_at": event.time.astimezone(UTC),
                "event_id": event.id,
                "order": order,
            }
            if isinstance(data, ScheduleCreatedV1):
                doc = {
                    **base,
                    "task": data.task,
                    "cron": data.cron,
                    "every_s": data.every_s,
                    "timezone": data.timezone,
                    "prompt": data.prompt,
                    "channel": data.channel,
                    "chat_id": data.chat_id,
                    "created_at": event.time.astimezone(UTC),
                    "deleted": False,
                }
            else:
                doc = {
                    **base,
                    "task": None,
                    "cron": None,
                    "every_s": None,
                    "prompt": None,
                    "chat_id": None,
                    "deleted": True,
                }
            out.append(Row(key=data.schedule_id, order=order, doc=doc))
        return out
