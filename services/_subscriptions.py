"""Subscription commands: an external system's request to receive signed webhooks becomes an
event on the compacted ``ixo.notify.subscriptions`` topic. Nothing writes the ``subscriptions``
read model directly: the projector does, from these events (and never stores the secret).

The URL is checked before anything is published (:class:`infra.net.OutboundGuard`: http(s),
resolving only to public addresses unless ``IXO_WEBHOOK_ALLOWED_NETWORKS`` allows more); the
signing secret goes on the topic encrypted under the server keys (:mod:`infra.secrets`) and is
shown in plain text once, in the creation receipt."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from infra.net import HostUnresolved, OutboundGuard, TargetNotAllowed
from infra.secrets import SecretBox
from readmodels import ReadModels, Subscription
from schemas import (
    NOTIFY_SUBSCRIPTIONS,
    SUBSCRIBABLE_TYPES,
    Id,
    InvalidEvent,
    SubscriptionCreatedV1,
    SubscriptionDeletedV1,
    new_event_id,
)
from services._commands import Commands, NotFound, Publisher, Receipt, parse_input

SECRET_PREFIX = "ixosec_"  # noqa: S105 - a marker, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret (256 random bits, URL-safe)."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


class SubscriptionDraft(BaseModel):
    """What an external system asks for. ``secret`` is generated when absent; ``all_users``
    (every user's events, not only the owner's) is for operators."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: Id
    url: HttpUrl
    event_types: tuple[str, ...] = Field(min_length=1, max_length=50)
    secret: str | None = Field(default=None, min_length=16, max_length=256)
    all_users: bool = False

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - SUBSCRIBABLE_TYPES)
        if unknown:
            known = ", ".join(sorted(SUBSCRIBABLE_TYPES))
            msg = f"cannot subscribe to {', '.join(unknown)} (subscribable: {known})"
            raise ValueError(msg)
        return tuple(dict.fromkeys(value))


class SubscriptionNotFound(NotFound):
    """No live subscription with that id (for that owner)."""


def parse_subscription(data: Any) -> SubscriptionDraft:
    """Validate loose input (CLI, bot) into a draft; :class:`InvalidEvent` names the field."""
    return parse_input(SubscriptionDraft, data)


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
    """Every webhook subscription command and query, for every client."""

    def __init__(
        self,
        publisher: Publisher,
        reads: ReadModels,
        *,
        source: str,
        secrets: SecretBox,
        guard: OutboundGuard,
    ) -> None:
        self._commands = Commands(
            publisher, source=source, topic=NOTIFY_SUBSCRIPTIONS, id_field="subscription_id"
        )
        self._reads = reads
        self._secrets = secrets
        self._guard = guard

    async def create(
        self,
        draft: SubscriptionDraft,
        *,
        operator: bool = False,
        correlation_id: str | None = None,
    ) -> Receipt:
        """Publish ``ixo.subscription.created.v1`` with the secret encrypted; the receipt carries
        the plain secret (once). :class:`InvalidEvent` (field ``url``) when the URL is not an
        allowed target, (field ``all_users``) when a non-operator asks for every user's events."""
        if draft.all_users and not operator:
            msg = "all_users: only an operator may subscribe to every user's events"
            raise InvalidEvent(msg, kind="invalid_event", field="all_users")
        await self.check_url(str(draft.url))
        secret = draft.secret or new_secret()
        data = SubscriptionCreatedV1(
            subscription_id=new_event_id(),
            owner=draft.owner,
            url=draft.url,
            secret_enc=self._secrets.encrypt(secret),
            event_types=draft.event_types,
            all_users=draft.all_users,
        )
        return await self._commands.publish(data, correlation_id=correlation_id, secret=secret)

    async def check_url(self, url: str) -> None:
        """:class:`InvalidEvent` (field ``url``) unless ``url`` is an allowed webhook target."""
        try:
            await self._guard.check_url(url)
        except (TargetNotAllowed, HostUnresolved) as exc:
            detail = exc.detail if isinstance(exc, TargetNotAllowed) else str(exc)
            msg = f"url: webhook target not allowed ({detail}); targets must be public addresses"
            raise InvalidEvent(msg, kind="invalid_event", field="url") from None

    async def delete(
        self,
        subscription_id: str,
        *,
        owner: str | None = None,
        correlation_id: str | None = None,
    ) -> Receipt:
        sub = await self.get(subscription_id)
        if sub is None or (owner is not None and sub.owner != owner):
            msg = f"no subscription {subscription_id}" + (f" of {owner}" if owner else "")
            raise SubscriptionNotFound(msg)
        data = SubscriptionDeletedV1(subscription_id=sub.subscription_id, owner=sub.owner)
        return await self._commands.publish(data, correlation_id=correlation_id)

    async def get(self, subscription_id: str) -> Subscription | None:
        sub = await self._reads.subscription(subscription_id)
        return None if sub is None or sub.deleted else sub

    async def list(self, owner: str) -> list[Subscription]:
        return await self._reads.subscriptions(owner)
