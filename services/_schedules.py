"""Schedule commands: a user's request to run an agent prompt or an alert digest on a cadence
becomes an event on the compacted ``ixo.schedules`` topic; deleting it, a deletion event. The
scheduler folds that topic into its working state and the projector into the ``schedules`` read
model, which the listings read. Nothing writes either directly."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from consumers.scheduler import Cadence, CadenceError, zone
from readmodels import ReadModels, Schedule
from schemas import (
    SCHEDULES,
    Id,
    InvalidEvent,
    Platform,
    ScheduleCreatedV1,
    ScheduleDeletedV1,
    new_event_id,
    utc_now,
)
from services._chats import Chat, check_own_chats
from services._commands import Commands, NotFound, Publisher, Receipt, parse_input

MAX_PROMPT: Final = 4000
SCHEDULE_ID_CHARS: Final = 12
BOT_CHANNELS: Final = ("telegram", "discord")

ScheduleId = Annotated[Id, Field(max_length=100)]


def _field_error(exc: CadenceError) -> PydanticCustomError:
    """A pydantic error carrying the cadence's reason as is (no "Value error, " prefix)."""
    reason = str(exc).removeprefix(f"{exc.field}: ")
    return PydanticCustomError(f"invalid_{exc.field}", "{reason}", {"reason": reason})


class ScheduleDraft(BaseModel):
    """What a user asks for: exactly one of ``cron`` (5 fields, in ``timezone``) or ``every_s``
    (at least 60), and a ``prompt`` for ``prompt`` tasks. ``channel`` and ``chat_id`` say where
    the result goes (``telegram``/``discord`` need the chat id). ``schedule_id`` is chosen for
    the user when absent; giving one of theirs replaces that schedule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: Id
    task: Literal["prompt", "alert_digest"] = "prompt"
    cron: str | None = Field(default=None, max_length=200, examples=["0 8 * * *"])
    every_s: int | None = Field(default=None, ge=60, le=366 * 24 * 3600, examples=[3600])
    timezone: str = Field(default="UTC", max_length=64, examples=["Europe/Paris"])
    prompt: str | None = Field(
        default=None, min_length=1, max_length=MAX_PROMPT, examples=["Summarise BTC"]
    )
    channel: Platform = "web"
    chat_id: Id | None = None
    schedule_id: ScheduleId | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return Cadence.parse(cron=value).cron
        except CadenceError as exc:
            raise _field_error(exc) from None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zone(value)
        except CadenceError as exc:
            raise _field_error(exc) from None
        return value


class ScheduleNotFound(NotFound):
    """No live schedule with that id (for that user)."""


def check_draft(draft: ScheduleDraft) -> ScheduleDraft:
    """The checks across fields; :class:`InvalidEvent` names the field at fault."""
    problem: tuple[str, str] | None = None
    if draft.cron is None and draft.every_s is None:
        problem = ("cron", "give a cron expression or every_s (seconds, at least 60)")
    elif draft.cron is not None and draft.every_s is not None:
        problem = ("every_s", "give either cron or every_s, not both")
    elif draft.task == "prompt" and not (draft.prompt and draft.prompt.strip()):
        problem = ("prompt", "a prompt task needs the prompt text")
    elif draft.task == "alert_digest" and draft.prompt is not None:
        problem = ("prompt", "an alert_digest task takes no prompt")
    elif draft.channel in BOT_CHANNELS and draft.chat_id is None:
        problem = ("chat_id", f"the {draft.channel} channel needs the chat id")
    if problem is not None:
        field, reason = problem
        msg = f"{field}: {reason}"
        raise InvalidEvent(msg, kind="invalid_event", field=field)
    return draft


def parse_schedule(data: Any) -> ScheduleDraft:
    """Validate loose input (CLI, bot) into a draft; :class:`InvalidEvent` names the field."""
    return check_draft(parse_input(ScheduleDraft, data))


def schedule_id_for(seed: str) -> str:
    """A short schedule id derived from ``seed`` (a bot's delivery event id):
    ``s-`` and 12 base32 characters, short enough to type in ``/unschedule``."""
    digest = hashlib.sha256(f"schedule:{seed}".encode()).digest()
    return "s-" + base64.b32encode(digest).decode("ascii").lower()[:SCHEDULE_ID_CHARS]


class HasCadence(Protocol):
    """A schedule, a draft or a document: anything with a cadence."""

    @property
    def cron(self) -> str | None: ...
    @property
    def every_s(self) -> int | None: ...
    @property
    def timezone(self) -> str: ...


def schedule_cadence(schedule: HasCadence) -> Cadence | None:
    try:
        return Cadence.parse(
            cron=schedule.cron, every_s=schedule.every_s, timezone=schedule.timezone
        )
    except CadenceError:
        return None


def describe_schedule(schedule: HasCadence) -> str:
    """``every 3600s`` or ``cron 0 8 * * * (Europe/Paris)``."""
    cadence = schedule_cadence(schedule)
    return cadence.describe() if cadence is not None else "invalid cadence"


def next_run(schedule: HasCadence, now: datetime | None = None) -> datetime | None:
    cadence = schedule_cadence(schedule)
    return None if cadence is None else cadence.next_after(now or utc_now())


def schedule_view(schedule: Schedule, now: datetime | None = None) -> dict[str, Any]:
    """The public view of a schedule (JSON-ready), with its next run."""
    upcoming = next_run(schedule, now)
    return {
        "schedule_id": schedule.schedule_id,
        "user_id": schedule.user_id,
        "task": schedule.task,
        "cron": schedule.cron,
        "every_s": schedule.every_s,
        "timezone": schedule.timezone,
        "prompt": schedule.prompt,
        "channel": schedule.channel,
        "chat_id": schedule.chat_id,
        "created_at": schedule.created_at.isoformat() if schedule.created_at else None,
        "next_run": upcoming.isoformat() if upcoming else None,
    }


class ScheduleService:
    """Every schedule command and query, for every client."""

    def __init__(self, publisher: Publisher, reads: ReadModels, *, source: str) -> None:
        self._commands = Commands(publisher, source=source, topic=SCHEDULES, id_field="schedule_id")
        self._reads = reads

    async def create(
        self,
        draft: ScheduleDraft,
        *,
        schedule_id: str | None = None,
        correlation_id: str | None = None,
        event_id: str | None = None,
        trusted_chats: Collection[Chat] | None = (),
    ) -> Receipt:
        """Publish ``ixo.schedule.created.v1`` (validated again here, whoever the caller).

        The schedule id is ``draft.schedule_id`` (one of the user's, replaced: checked against
        the ``schedules`` projection), else ``schedule_id`` (a new id the caller derived, e.g.
        from a bot's update id: not looked up), else a fresh one. ``event_id`` makes a retried
        command publish the same event."""
        check_draft(draft)
        if draft.chat_id is not None:
            await check_own_chats(
                self._reads,
                draft.user_id,
                [(draft.channel, draft.chat_id)],
                trusted=trusted_chats,
                field="chat_id",
            )
        schedule_id = draft.schedule_id or schedule_id or new_event_id()
        if draft.schedule_id is not None:
            existing = await self.get(schedule_id)
            if existing is not None and existing.user_id != draft.user_id:
                msg = f"schedule {schedule_id} belongs to another user"
                raise ScheduleNotFound(msg)
        data = ScheduleCreatedV1.model_validate(
            {**draft.model_dump(exclude={"schedule_id"}), "schedule_id": schedule_id}
        )
        return await self._commands.publish(data, correlation_id=correlation_id, event_id=event_id)

    async def delete(
        self,
        schedule_id: str,
        *,
        user_id: str | None = None,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> Receipt:
        """Publish ``ixo.schedule.deleted.v1`` for a live schedule (of ``user_id`` if given)."""
        schedule = await self.get(schedule_id)
        if schedule is None or (user_id is not None and schedule.user_id != user_id):
            msg = f"no schedule {schedule_id}" + (f" for user {user_id}" if user_id else "")
            raise ScheduleNotFound(msg)
        data = ScheduleDeletedV1(schedule_id=schedule.schedule_id, user_id=schedule.user_id)
        return await self._commands.publish(data, correlation_id=correlation_id, event_id=event_id)

    async def get(self, schedule_id: str) -> Schedule | None:
        schedule = await self._reads.schedule(schedule_id)
        return None if schedule is None or schedule.deleted else schedule

    async def list(self, user_id: str | None = None) -> list[Schedule]:
        """Live schedules (of one user), oldest first."""
        return await self._reads.schedules(user_id)
