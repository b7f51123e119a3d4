"""The projector: folds events into MongoDB read models, idempotently, and rebuilds them by replay.

The FastStream app lives in :mod:`consumers.projector.app` (wiring); this package's public API is
the domain and the store, usable without a broker.
"""

from beanie import Document

from consumers.projector._alerts import Alert, AlertsProjection
from consumers.projector._conversations import Conversation, ConversationsProjection
from consumers.projector._deliveries import (
    DeliveriesProjection,
    NotificationDelivery,
    delivery_id,
)
from consumers.projector._documents import to_document
from consumers.projector._prices import Price, PricesProjection, price_row
from consumers.projector._replay import ReplayResult, replay
from consumers.projector._rows import Positioned, Projection, Row, newest, order_key
from consumers.projector._rules import Rule, RulesProjection
from consumers.projector._schedules import Schedule, SchedulesProjection
from consumers.projector._store import WATERMARKS, ProjectionStore
from consumers.projector._subscriptions import Subscription, SubscriptionsProjection

PROJECTIONS: dict[str, Projection] = {
    p.name: p
    for p in (
        PricesProjection(),
        RulesProjection(),
        AlertsProjection(),
        ConversationsProjection(),
        DeliveriesProjection(),
        SubscriptionsProjection(),
        SchedulesProjection(),
    )
}
"""Every projection the projector runs, by name (the names ``ixo replay`` takes)."""

READ_MODELS: tuple[type[Document], ...] = (
    Price,
    Rule,
    Alert,
    Conversation,
    NotificationDelivery,
    Subscription,
    Schedule,
)
"""Every Beanie document the projector writes."""

__all__ = [
    "PROJECTIONS",
    "READ_MODELS",
    "WATERMARKS",
    "Alert",
    "AlertsProjection",
    "Conversation",
    "ConversationsProjection",
    "DeliveriesProjection",
    "NotificationDelivery",
    "Positioned",
    "Price",
    "PricesProjection",
    "Projection",
    "ProjectionStore",
    "ReplayResult",
    "Row",
    "Rule",
    "RulesProjection",
    "Schedule",
    "SchedulesProjection",
    "Subscription",
    "SubscriptionsProjection",
    "delivery_id",
    "newest",
    "order_key",
    "price_row",
    "replay",
    "to_document",
]
