"""The ``subscriptions`` projection: every webhook subscription, for ``GET /v1/subscriptions``.

Secrets are never projected: they live only on the (ACL-restricted) compacted topic and in the
notifier's working state. A deleted subscription stays as a tombstone."""

from __future__ import annotations

from datetime import UTC
from typing import Any, ClassVar

from consumers.projector._entities import EntityProjection
from readmodels import ReadModel, Subscription
from schemas import (
    NOTIFY_SUBSCRIPTIONS,
    AnyEvent,
    EventData,
    SubscriptionCreatedV1,
    SubscriptionDeletedV1,
    Topic,
)


class SubscriptionsProjection(EntityProjection):
    """Maps ``ixo.subscription.created.v1`` / ``.deleted.v1`` to ``subscriptions`` rows."""

    name: ClassVar[str] = "subscriptions"
    topic: ClassVar[Topic] = NOTIFY_SUBSCRIPTIONS
    document: ClassVar[type[ReadModel]] = Subscription
    key_field: ClassVar[str] = "subscription_id"
    alive: ClassVar[tuple[type[EventData], ...]] = (SubscriptionCreatedV1,)
    dead: ClassVar[tuple[type[EventData], ...]] = (SubscriptionDeletedV1,)

    def live_doc(self, event: AnyEvent, data: SubscriptionCreatedV1) -> dict[str, Any]:
        return {
            "owner": data.owner,
            "url": str(data.url),
            "event_types": list(data.event_types),
            "created_at": event.time.astimezone(UTC),
        }

    def tombstone_doc(self, event: AnyEvent, data: SubscriptionDeletedV1) -> dict[str, Any]:
        return {"owner": data.owner, "event_types": []}
