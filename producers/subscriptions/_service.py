"""Subscription commands: an external system's request to receive signed webhooks becomes an
event on the compacted ``ixo.notify.subscriptions`` topic. Nothing writes the ``subscriptions``
read model directly: the projector does, from these events (and never stores the secret)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from aiokafka.structs import RecordMetadata
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from consumers.notifier import SUBSCRIBABLE_TYPES
from consumers.projector import Subscription
from infra.kafka import EventPublisher
from schemas import (
    NOTIFY_SUBSCRIPTIONS,
    AnyEvent,
    CloudEvent,
    Id,
    InvalidEvent,
    IxoError,
    SubscriptionCreatedV1,
    SubscriptionDeletedV1,
    explain,
    new_event_id,
)

SECRET_PREFIX = "ixosec_"  # noqa: S105 - a marker, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret (256 random bits, URL-safe)."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


class SubscriptionDraft(BaseModel):
    """What an external system asks for. ``secret`` is generated when absent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: Id
    url: HttpUrl
    event_types: tuple[str, ...] = Field(min_length=1, max_length=50)
    secret: str | None = Field(default=None, min_length=16, max_length=256)

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - SUBSCRIBABLE_TYPES)
        if unknown:
            known = ", ".join(sorted(SUBSCRIBABLE_TYPES))
            msg = f"cannot subscribe to {', '.join(unknown)} (subscribable: {known})"
            raise ValueError(msg)
        return tuple(dict.fromkeys(value))


class SubscriptionNotFound(IxoError):  # noqa: N818
    """No live subscription with that id (for that owner)."""


@dataclass(frozen=True)
class SubscriptionReceipt:
    """Where a command's event landed; ``secret`` only on creation (shown once)."""

    event: AnyEvent
    topic: str
    partition: int
    offset: int
    secret: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subscription_id": getattr(self.event.data, "subscription_id", None),
            "event_id": self.event.id,
            "type": self.event.type,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }
        if self.secret is not None:
            out["secret"] = self.secret
        return out


def parse_subscription(data: Any) -> SubscriptionDraft:
    """Validate loose input (CLI, bot) into a draft; :class:`InvalidEvent` names the field."""
    try:
        return SubscriptionDraft.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidEvent(explain(err), kind="invalid_event", field=field) from None


def subscription_view(sub: Subscription) -> dict[str, Any]:
    """The public view of a subscription (never a secret)."""
    return {
        "subscription_id": sub.subscription_id,
        "owner": sub.owner,
        "url": sub.url,
        "event_types": list(sub.event_types),
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
    }


class SubscriptionService:
    """Publishes subscription events and reads the ``subscriptions`` projection (Beanie must be
    initialised with :class:`Subscription`)."""

    def __init__(self, publisher: EventPublisher, *, source: str) -> None:
        self._publisher = publisher
        self._source = source

    async def _publish(self, event: AnyEvent, secret: str | None = None) -> SubscriptionReceipt:
        meta: RecordMetadata = await self._publisher.publish(event, NOTIFY_SUBSCRIPTIONS)
        return SubscriptionReceipt(event, meta.topic, meta.partition, meta.offset, secret)

    async def create(
        self, draft: SubscriptionDraft, *, correlation_id: str | None = None
    ) -> SubscriptionReceipt:
        """Publish ``ixo.subscription.created.v1``; the receipt carries the secret (once)."""
        secret = draft.secret or new_secret()
        data = SubscriptionCreatedV1(
            subscription_id=new_event_id(),
            owner=draft.owner,
            url=draft.url,
            secret=secret,
            event_types=draft.event_types,
        )
        event = CloudEvent.new(data, source=self._source, correlation_id=correlation_id)
        return await self._publish(event, secret)

    async def delete(
        self,
        subscription_id: str,
        *,
        owner: str | None = None,
        correlation_id: str | None = None,
    ) -> SubscriptionReceipt:
        sub = await self.get(subscription_id)
        if sub is None or (owner is not None and sub.owner != owner):
            msg = f"no subscription {subscription_id}" + (f" of {owner}" if owner else "")
            raise SubscriptionNotFound(msg)
        data = SubscriptionDeletedV1(subscription_id=sub.subscription_id, owner=sub.owner)
        event = CloudEvent.new(data, source=self._source, correlation_id=correlation_id)
        return await self._publish(event)

    async def get(self, subscription_id: str) -> Subscription | None:
        sub = await Subscription.get(subscription_id)
        return None if sub is None or sub.deleted else sub

    async def list(self, owner: str) -> list[Subscription]:
        found = await Subscription.find(
            Subscription.owner == owner,
            Subscription.deleted == False,  # noqa: E712 - a query expression
        ).to_list()
        found.sort(key=lambda s: (s.created_at is None, s.created_at, s.subscription_id))
        return found
