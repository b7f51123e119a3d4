"""The projector: folds events into MongoDB read models, idempotently, and rebuilds them by replay.

The FastStream app lives in :mod:`consumers.projector.app` (wiring); this package's public API is
the domain and the store, usable without a broker.
"""

from consumers.projector._alerts import AlertsProjection
from consumers.projector._chain_logs import ChainLogsProjection, chain_log_id, chain_log_row
from consumers.projector._conversations import ConversationsProjection
from consumers.projector._deliveries import DeliveriesProjection, delivery_id
from consumers.projector._documents import to_document
from consumers.projector._posts import PostsProjection, post_row
from consumers.projector._prices import PricesProjection, price_row
from consumers.projector._redis import RedisTraceIndex
from consumers.projector._replay import ReplayResult, replay
from consumers.projector._rows import Positioned, Projection, Row, newest, order_key
from consumers.projector._rules import RulesProjection
from consumers.projector._schedules import SchedulesProjection
from consumers.projector._store import WATERMARKS, ProjectionStore
from consumers.projector._subscriptions import SubscriptionsProjection
from consumers.projector._trace import (
    MAX_TRACE_LIMIT,
    TRACE,
    TraceEntry,
    trace_entries,
    traced_topics,
)
from consumers.projector._users import LinksProjection, UsersProjection

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
        UsersProjection(),
        LinksProjection(),
        PostsProjection(),
        ChainLogsProjection(),
    )
}
"""Every projection the projector runs, by name (the names ``ixo replay`` takes)."""

__all__ = [
    "MAX_TRACE_LIMIT",
    "PROJECTIONS",
    "TRACE",
    "WATERMARKS",
    "AlertsProjection",
    "ChainLogsProjection",
    "ConversationsProjection",
    "DeliveriesProjection",
    "LinksProjection",
    "Positioned",
    "PostsProjection",
    "PricesProjection",
    "Projection",
    "ProjectionStore",
    "RedisTraceIndex",
    "ReplayResult",
    "Row",
    "RulesProjection",
    "SchedulesProjection",
    "SubscriptionsProjection",
    "TraceEntry",
    "UsersProjection",
    "chain_log_id",
    "chain_log_row",
    "delivery_id",
    "newest",
    "order_key",
    "post_row",
    "price_row",
    "replay",
    "to_document",
    "trace_entries",
    "traced_topics",
]
