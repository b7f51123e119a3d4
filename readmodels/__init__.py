"""The read models: MongoDB documents folded from Kafka by the projector, and typed queries.

Written only by the projector; read only through :class:`ReadModels` (the service layer holds
one per database)."""

from beanie import Document

from readmodels._chain_logs import ChainLog
from readmodels._documents import (
    Alert,
    Conversation,
    Link,
    NotificationDelivery,
    Post,
    Price,
    ReadModel,
    Rule,
    Schedule,
    Subscription,
    User,
    collection_document,
)
from readmodels._queries import ReadModels

ROWS: tuple[type[ReadModel], ...] = (
    Price,
    Rule,
    Alert,
    Conversation,
    NotificationDelivery,
    Subscription,
    Schedule,
    User,
    Link,
    Post,
    ChainLog,
)
"""Every read model the projector writes."""

READ_MODELS: tuple[type[Document], ...] = tuple(collection_document(m) for m in ROWS)
"""Their Beanie documents: ``init_beanie`` with these creates every collection's indexes."""

__all__ = [
    "READ_MODELS",
    "ROWS",
    "Alert",
    "ChainLog",
    "Conversation",
    "Link",
    "NotificationDelivery",
    "Post",
    "Price",
    "ReadModel",
    "ReadModels",
    "Rule",
    "Schedule",
    "Subscription",
    "User",
    "collection_document",
]
