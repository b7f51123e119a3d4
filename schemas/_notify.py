"""Notification delivery outcomes."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from schemas._alerts import Channel
from schemas._base import EventData
from schemas._types import Id, Timestamp


class NotificationDeliveredV1(EventData):
    event_type: ClassVar[str] = "ixo.notification.delivered.v1"
    key_field: ClassVar[str] = "match_id"

    match_id: Id
    user_id: Id
    channel: Channel
    attempts: int = Field(ge=1)
    delivered_at: Timestamp


class NotificationFailedV1(EventData):
    event_type: ClassVar[str] = "ixo.notification.failed.v1"
    key_field: ClassVar[str] = "match_id"

    match_id: Id
    user_id: Id
    channel: Channel
    attempts: int = Field(ge=1)
    error: str
    failed_at: Timestamp
