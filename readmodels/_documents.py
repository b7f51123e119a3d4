"""The read models: MongoDB documents the projector folds from Kafka, one class per collection.

Each class is the row as read (a pydantic model: ``_id`` is ``id``) and names its collection and
indexes in ``Settings``. They are written only by the projector (:mod:`consumers.projector`) and
read through :class:`readmodels.ReadModels` (typed queries given a database): validating a row
needs no Beanie binding, so a process may read several databases at once. Beanie creates the
collections' indexes (:data:`readmodels.READ_MODELS`, for the projector). Decimals are stored as
strings (exact; FerretDB has no Decimal128)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from beanie import Document
from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING, IndexModel


class ReadModel(BaseModel):
    """A row of a read model; subclasses add ``Settings`` (``name``: the collection,
    ``indexes``: what the projector creates)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    class Settings:
        name: ClassVar[str] = ""
        indexes: ClassVar[list[IndexModel]] = []

    @classmethod
    def collection(cls) -> str:
        return cls.Settings.name


class Price(ReadModel):
    """Latest price of one symbol. Prices are decimal strings, as on the wire."""

    id: str = Field(alias="_id", description="The symbol")
    symbol: str
    price: str
    volume: str | None = None
    venue: str
    ts: datetime
    event_id: str
    order: str

    class Settings:
        name = "prices"
        indexes: ClassVar[list[IndexModel]] = [IndexModel("venue")]


class Rule(ReadModel):
    """An alert rule as its last event left it. ``version`` counts the rule's events."""

    id: str = Field(alias="_id", description="The rule id")
    rule_id: str
    user_id: str
    symbol: str
    condition: dict[str, Any] | None = None
    channels: list[dict[str, Any]] = Field(default_factory=list)
    cooldown_s: int = 0
    repeat: bool = False
    deleted: bool = False
    updated_at: datetime
    event_id: str
    event_type: str
    order: str

    class Settings:
        name = "rules"
        indexes: ClassVar[list[IndexModel]] = [IndexModel("user_id")]


class Alert(ReadModel):
    """One ``ixo.alert.triggered.v1``, with the explanation it carries."""

    id: str = Field(alias="_id", description="The match id")
    match_id: str
    rule_id: str
    user_id: str
    symbol: str
    price: str
    condition: dict[str, Any]
    tick_id: str
    triggered_at: datetime
    rule_version: int | None = None
    tick_topic: str | None = None
    tick_partition: int | None = None
    tick_offset: int | None = None
    previous_price: str | None = None
    reference_price: str | None = None
    reference_time: datetime | None = None
    change_pct: str | None = None
    event_id: str
    order: str

    class Settings:
        name = "alerts"
        indexes: ClassVar[list[IndexModel]] = [
            # One single-field index: FerretDB 1.24 panics (drops the connection) when Beanie
            # re-initialises a collection that has two indexes or a compound one.
            IndexModel("user_id"),
        ]


class Conversation(ReadModel):
    """One turn of a session: what the user asked and what the agent answered."""

    id: str = Field(alias="_id", description="The request id")
    session_id: str
    request_id: str
    user_id: str | None = None
    prompt: str | None = None
    answer: str
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    answered_at: datetime
    event_id: str
    order: str

    class Settings:
        name = "conversations"
        indexes: ClassVar[list[IndexModel]] = [IndexModel("session_id")]


class NotificationDelivery(ReadModel):
    """One (match, channel) notification as its outcome event left it."""

    id: str = Field(alias="_id", description="match_id/kind/digest of target")
    match_id: str
    user_id: str
    channel: dict[str, Any]
    status: str = Field(description="delivered | failed")
    attempts: int
    at: datetime = Field(description="delivered_at or failed_at")
    error: str | None = None
    event_id: str
    order: str

    class Settings:
        name = "deliveries"
        indexes: ClassVar[list[IndexModel]] = [
            # One single-field index only (FerretDB 1.24 panics on more; see _alerts.py).
            IndexModel("user_id"),
        ]


class Subscription(ReadModel):
    """A webhook subscription as its last event left it (never its secret)."""

    id: str = Field(alias="_id", description="The subscription id")
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


class Schedule(ReadModel):
    """A user schedule as its last event left it."""

    id: str = Field(alias="_id", description="The schedule id")
    schedule_id: str
    user_id: str
    task: str | None = None
    cron: str | None = None
    every_s: int | None = None
    timezone: str = "UTC"
    prompt: str | None = None
    channel: str | None = None
    chat_id: str | None = None
    created_at: datetime | None = None
    deleted: bool = False
    updated_at: datetime
    event_id: str
    order: str

    class Settings:
        name = "schedules"
        # One single-field index: FerretDB 1.24 panics on re-initialising two or a compound one.
        indexes: ClassVar[list[IndexModel]] = [IndexModel("user_id")]


class User(ReadModel):
    """A user as their last event left them (a deleted user is a tombstone)."""

    id: str = Field(alias="_id", description="The user id")
    user_id: str
    display_name: str = ""
    created_at: datetime | None = None
    deleted: bool = False
    updated_at: datetime
    event_id: str
    order: str

    class Settings:
        name = "users"
        indexes: ClassVar[list[IndexModel]] = []


class Link(ReadModel):
    """A chat-platform account (an identity) and the user it is linked to."""

    id: str = Field(alias="_id", description="The link id: <platform>:<platform user id>")
    link_id: str
    user_id: str
    platform: str
    platform_user_id: str
    chat_id: str
    deleted: bool = False
    updated_at: datetime
    event_id: str
    order: str

    class Settings:
        name = "links"
        indexes: ClassVar[list[IndexModel]] = [IndexModel("user_id")]


class Post(ReadModel):
    """A scraped social post as its last event left it (a re-scrape updates its metrics)."""

    id: str = Field(alias="_id", description="The post id")
    post_id: str
    author: str
    text: str
    url: str
    created_at: datetime
    metrics: dict[str, int] = Field(default_factory=dict)
    symbols: list[str] = Field(default_factory=list)
    event_id: str
    order: str

    class Settings:
        name = "posts"
        # One compound index serves "a symbol's posts, newest first" (decision 0133); a single
        # compound index re-initialises cleanly on FerretDB 1.24, two indexes do not.
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("symbols", ASCENDING), ("created_at", DESCENDING)])
        ]


def collection_document(model: type[ReadModel]) -> type[Document]:
    """A Beanie document naming ``model``'s collection and indexes, for ``init_beanie`` to
    create them (the projector's start and a replay). Rows are never read through it."""
    name = f"{model.__name__}Collection"
    # A nested class, as if written in the class body (pydantic then takes it for no field).
    settings = type(
        "Settings",
        (),
        {
            "__module__": __name__,
            "__qualname__": f"{name}.Settings",
            "name": model.Settings.name,
            "indexes": model.Settings.indexes,
        },
    )
    made: type[Document] = type(
        name, (Document,), {"__module__": __name__, "__qualname__": name, "Settings": settings}
    )
    return made
