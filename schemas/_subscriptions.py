"""Webhook subscriptions of external systems, user links of chat platforms, and schedules."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, HttpUrl

from schemas._base import EventData
from schemas._types import Id, Timestamp

Platform = Literal["telegram", "discord", "web", "cli"]


class SubscriptionCreatedV1(EventData):
    """An external system wants events of ``event_types`` POSTed (signed) to ``url``.

    The HMAC secret never travels in plain text: ``secret_enc`` is a Fernet token under the
    server's keys (``IXO_SECRETS_KEYS``); only the notifier decrypts it, to sign. Events of
    other users reach the subscription only when ``all_users`` (an operator's subscription).
    """

    event_type: ClassVar[str] = "ixo.subscription.created.v1"
    key_field: ClassVar[str] = "subscription_id"

    subscription_id: Id
    owner: Id
    url: HttpUrl
    secret_enc: str = Field(
        min_length=16, max_length=1024, description="The signing secret, Fernet-encrypted"
    )
    event_types: tuple[str, ...] = Field(min_length=1)
    all_users: bool = Field(
        default=False, description="Every user's events, not only the owner's (operators only)"
    )


class SubscriptionDeletedV1(EventData):
    event_type: ClassVar[str] = "ixo.subscription.deleted.v1"
    key_field: ClassVar[str] = "subscription_id"

    subscription_id: Id
    owner: Id


class UserLinkedV1(EventData):
    """A chat-platform account is linked to an Impressox user id (``link_id`` =
    ``<platform>:<platform user id>``)."""

    event_type: ClassVar[str] = "ixo.user.linked.v1"
    key_field: ClassVar[str] = "link_id"

    link_id: Id
    platform: Platform
    platform_user_id: str = Field(min_length=1, max_length=200)
    chat_id: str = Field(min_length=1, max_length=200, description="Where to answer")
    user_id: Id


class ScheduleCreatedV1(EventData):
    """A recurring task of a user: an agent prompt or a digest of their alerts."""

    event_type: ClassVar[str] = "ixo.schedule.created.v1"
    key_field: ClassVar[str] = "schedule_id"

    schedule_id: Id
    user_id: Id
    task: Literal["prompt", "alert_digest"]
    cron: str | None = Field(default=None, max_length=200, examples=["0 8 * * *"])
    every_s: int | None = Field(default=None, ge=60, le=366 * 24 * 3600)
    timezone: str = Field(default="UTC", max_length=64)
    prompt: str | None = Field(default=None, max_length=4000)
    channel: Platform = "web"
    chat_id: str | None = Field(default=None, max_length=200)


class ScheduleDeletedV1(EventData):
    event_type: ClassVar[str] = "ixo.schedule.deleted.v1"
    key_field: ClassVar[str] = "schedule_id"

    schedule_id: Id
    user_id: Id


class TaskDueV1(EventData):
    """One time slot of a task is due. The event id is derived from ``slot_id`` so a slot is
    published once however many schedulers run."""

    event_type: ClassVar[str] = "ixo.task.due.v1"
    key_field: ClassVar[str] = "task_id"

    task_id: Id
    slot_id: Id
    slot: Timestamp
    schedule_id: Id | None = None
    user_id: Id | None = None
