"""Typed queries over the read models, given a database.

Every read of a read model goes through :class:`ReadModels`: raw pymongo queries validated into
the document classes, so no Beanie binding is needed and several databases can be read in one
process. MongoDB errors become :class:`TransientError` (the caller may retry; nothing changed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

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
)
from schemas import TransientError

D = TypeVar("D", bound=ReadModel)
REGEX_SPECIALS = frozenset("\\.^$|?*+()[]{}")
"""What must be escaped to match a text literally, in Go's RE2 syntax as in PCRE (FerretDB uses
the former, MongoDB the latter; both refuse an escaped letter or space, so escape only these)."""


def literal_pattern(text: str) -> str:
    """A regular expression matching ``text`` literally."""
    return "".join("\\" + c if c in REGEX_SPECIALS else c for c in text)


@asynccontextmanager
async def _reading(what: str) -> AsyncIterator[None]:
    try:
        yield
    except PyMongoError as exc:
        # pymongo appends its whole topology description; the first clause is the cause.
        reason = str(exc).split(", Timeout:", 1)[0].split(" (configured timeouts", 1)[0]
        msg = f"MongoDB unavailable while reading {what}: {reason}"
        raise TransientError(msg) from None


class ReadModels:
    """The read side of the platform over one MongoDB database."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.database = database

    async def _one(self, model: type[D], key: str) -> D | None:
        name = model.collection()
        async with _reading(name):
            raw = await self.database[name].find_one({"_id": key})
        return None if raw is None else model.model_validate(raw)

    async def _many(
        self,
        model: type[D],
        query: Mapping[str, Any],
        *,
        sort: list[tuple[str, int]] | None = None,
        limit: int = 0,
    ) -> list[D]:
        name = model.collection()
        async with _reading(name):
            cursor = self.database[name].find(dict(query), sort=sort, limit=limit)
            return [model.model_validate(raw) async for raw in cursor]

    # prices
    async def price(self, symbol: str) -> Price | None:
        return await self._one(Price, symbol)

    async def prices(self) -> list[Price]:
        return await self._many(Price, {}, sort=[("_id", 1)])

    # rules
    async def rule(self, rule_id: str) -> Rule | None:
        """The rule as its last event left it (a deleted rule is a tombstone: ``deleted``)."""
        return await self._one(Rule, rule_id)

    async def rules(self, user_id: str | None = None) -> list[Rule]:
        """Live rules (of one user), by symbol then id."""
        query: dict[str, Any] = {"deleted": False}
        if user_id is not None:
            query["user_id"] = user_id
        found = await self._many(Rule, query)
        found.sort(key=lambda r: (r.symbol, r.rule_id))
        return found

    # alerts
    async def alerts(
        self, user_id: str, *, limit: int = 100, symbol: str | None = None
    ) -> list[Alert]:
        """The user's fired alerts, newest first."""
        query: dict[str, Any] = {"user_id": user_id}
        if symbol is not None:
            query["symbol"] = symbol
        return await self._many(
            Alert, query, sort=[("triggered_at", DESCENDING), ("_id", 1)], limit=limit
        )

    async def alerts_between(
        self, user_id: str, start: datetime, end: datetime, *, limit: int
    ) -> list[Alert]:
        """The user's alerts fired in ``(start, end]``, the latest ``limit``, oldest first."""
        found = await self._many(
            Alert, {"user_id": user_id, "triggered_at": {"$gt": start, "$lte": end}}
        )
        found.sort(key=lambda a: (a.triggered_at, a.match_id))
        return found[-limit:]

    # schedules
    async def schedule(self, schedule_id: str) -> Schedule | None:
        return await self._one(Schedule, schedule_id)

    async def schedules(self, user_id: str | None = None) -> list[Schedule]:
        """Live schedules (of one user), oldest first."""
        query: dict[str, Any] = {"deleted": False}
        if user_id is not None:
            query["user_id"] = user_id
        found = await self._many(Schedule, query)
        found.sort(key=lambda s: (s.created_at is None, s.created_at, s.schedule_id))
        return found

    # subscriptions
    async def subscription(self, subscription_id: str) -> Subscription | None:
        return await self._one(Subscription, subscription_id)

    async def subscriptions(self, owner: str) -> list[Subscription]:
        """Live subscriptions of an owner, oldest first."""
        found = await self._many(Subscription, {"owner": owner, "deleted": False})
        found.sort(key=lambda s: (s.created_at is None, s.created_at, s.subscription_id))
        return found

    # users and their chat accounts
    async def user(self, user_id: str) -> User | None:
        """The user as their last event left them (``deleted`` for a deleted one)."""
        return await self._one(User, user_id)

    async def users(self) -> list[User]:
        """Live users, by id."""
        return await self._many(User, {"deleted": False}, sort=[("_id", 1)])

    async def links(self, user_id: str) -> list[Link]:
        """The chat accounts linked to a user."""
        return await self._many(Link, {"user_id": user_id, "deleted": False}, sort=[("_id", 1)])

    # conversations and deliveries
    async def conversation(self, session_id: str, *, limit: int = 100) -> list[Conversation]:
        """The answered turns of a session, oldest first."""
        found = await self._many(Conversation, {"session_id": session_id})
        found.sort(key=lambda c: (c.answered_at, c.request_id))
        return found[-limit:]

    async def deliveries(self, match_id: str) -> list[NotificationDelivery]:
        """The outcome of every channel of one alert."""
        return await self._many(NotificationDelivery, {"match_id": match_id}, sort=[("_id", 1)])

    # posts
    async def posts(
        self,
        *,
        symbol: str | None = None,
        text: str | None = None,
        either: bool = False,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[Post]:
        """Posts, newest first: tagged with ``symbol``, containing ``text`` (case-insensitive)
        and created at or after ``since``; with ``either``, a post matching the symbol or the
        text is enough."""
        clauses: list[dict[str, Any]] = []
        if symbol is not None:
            clauses.append({"symbols": symbol})
        if text:
            clauses.append({"text": {"$regex": literal_pattern(text), "$options": "i"}})
        query: dict[str, Any] = {}
        if either and len(clauses) > 1:
            query["$or"] = clauses
        else:
            for clause in clauses:
                query.update(clause)
        if since is not None:
            query["created_at"] = {"$gte": since}
        return await self._many(
            Post, query, sort=[("created_at", DESCENDING), ("_id", 1)], limit=limit
        )

    # chain logs
    async def chain_logs(
        self,
        *,
        address: str | None = None,
        event: str | None = None,
        since_block: int | None = None,
        include_removed: bool = False,
        limit: int = 100,
    ) -> list[ChainLog]:
        """Observed logs, newest block first (then by log index): of one contract, of one event,
        from block ``since_block`` on; logs a reorg removed only with ``include_removed``."""
        query: dict[str, Any] = {}
        if address is not None:
            query["address"] = address.lower()
        if event is not None:
            query["event"] = event
        if since_block is not None:
            query["block_number"] = {"$gte": since_block}
        if not include_removed:
            query["removed"] = False
        return await self._many(
            ChainLog,
            query,
            sort=[("block_number", DESCENDING), ("log_index", DESCENDING), ("_id", 1)],
            limit=limit,
        )
