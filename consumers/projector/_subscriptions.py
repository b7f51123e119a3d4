"""The ``subscriptions`` projection: every webhook subscription, for ``GET /v1/subscriptions``.

Secrets are never projected: they live only on the (ACL-restricted) compacted topic and in the
notifier's working state. A deleted subscription stays as a tombstone so a late, older event
cannot resurrect it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from beanie import Document
from pydantic import Field
from pymongo import IndexModel

from consumers.projector._documents import offset_order
from consumers.projector._rows import Positioned, Row
from schemas import NOTIFY_SUBSCRIPTIONS, SubscriptionCreatedV1, SubscriptionDeletedV1, Topic


class Subscription(Document):
    """A webhook subscription as its last event left it (never its secret)."""

    id: str = Field(description="The subscription id")  # type: ignore[assignment]
    subscription_id: str
    owner: str
    url: str | None = None
    event_types: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    deleted: bool = False
    updated_at: datetime
    event_id: str
    order: str

    class Settings:
        name = "subscriptions"
        indexes: ClassVar[list[IndexModel]] = [IndexModel("owner")]


class SubscriptionsProjection:
    """Maps ``ixo.subscription.created.v1`` / ``.deleted.v1`` to ``subscriptions`` rows."""

    name: ClassVar[str] = "subscriptions"
    topic: ClassVar[Topic] = NOTIFY_SUBSCRIPTIONS
    document: ClassVar[type[Document]] = Subscription

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        out = []
        for item in items:
            event, data = item.event, item.event.data
            if not isinstance(data, SubscriptionCreatedV1 | SubscriptionDeletedV1):
                continue
            order = offset_order(item.partition, item.offset)
            base: dict[str, Any] = {
                "_id": data.subscription_id,
                "updated_at": event.time.astimezone(UTC),
                "event_id": event.id,
                "order": order,
            }
            if isinstance(data, SubscriptionCreatedV1):
                doc = {
                    **base,
                    "subscription_id": data.subscription_id,
                    "owner": data.owner,
                    "url": str(data.url),
                    "event_types": list(data.event_types),
                    "created_at": event.time.astimezone(UTC),
                    "deleted": False,
                }
            else:
                doc = {
                    **base,
                    "subscription_id": data.subscription_id,
                    "owner": data.owner,
                    "deleted": True,
                    "event_types": [],
                }
            out.append(Row(key=data.subscription_id, order=order, doc=doc))
        return out
