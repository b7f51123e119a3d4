"""The ``deliveries`` projection: the outcome of every notification, one document per
(match, channel): delivered or failed, after how many attempts, and why it failed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC
from typing import Any, ClassVar

from consumers.projector._documents import offset_order
from consumers.projector._rows import Positioned, Row
from readmodels import NotificationDelivery, ReadModel
from schemas import (
    NOTIFY_DELIVERIES,
    Channel,
    NotificationDeliveredV1,
    NotificationFailedV1,
    Topic,
)

TARGET_DIGEST_CHARS = 16


def delivery_id(match_id: str, channel: Channel) -> str:
    """The document id of a (match, channel) outcome: ``<match_id>/<kind>/<digest of target>``
    (a webhook URL can be 2000 characters; an id stays short)."""
    digest = hashlib.sha256(channel.target.encode()).hexdigest()[:TARGET_DIGEST_CHARS]
    return f"{match_id}/{channel.kind}/{digest}"


class DeliveriesProjection:
    """Maps ``ixo.notification.delivered.v1`` / ``.failed.v1`` to ``deliveries`` rows. The
    notifier emits one outcome per (match, channel) with a deterministic event id; should a crash
    make it publish that outcome twice, the copies are identical and fold into one document."""

    name: ClassVar[str] = "deliveries"
    topic: ClassVar[Topic] = NOTIFY_DELIVERIES
    document: ClassVar[type[ReadModel]] = NotificationDelivery

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        out = []
        for item in items:
            data = item.event.data
            if isinstance(data, NotificationDeliveredV1):
                status, at, error = "delivered", data.delivered_at, None
            elif isinstance(data, NotificationFailedV1):
                status, at, error = "failed", data.failed_at, data.error
            else:
                continue
            key = delivery_id(data.match_id, data.channel)
            order = offset_order(item.partition, item.offset)
            doc: dict[str, Any] = {
                "_id": key,
                "match_id": data.match_id,
                "user_id": data.user_id,
                "channel": data.channel.model_dump(mode="json"),
                "status": status,
                "attempts": data.attempts,
                "at": at.astimezone(UTC),
                "error": error,
                "event_id": item.event.id,
                "order": order,
            }
            out.append(Row(key=key, order=order, doc=doc))
        return out
