"""Shared types of the bots: where a command came from, what it answers, and the small
Protocols the command layer depends on (so tests can run it against the real adapters)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from schemas import UserLinkedV1

BotPlatform = Literal["telegram", "discord"]


@dataclass(frozen=True, slots=True)
class Origin:
    """One delivery of a user's message on a chat platform.

    ``delivery_id`` is the platform's own id of the delivery, unique per platform: for Telegram
    ``<bot id>:<update_id>`` (update ids are per bot), for Discord the interaction id. Every
    event id a command produces derives from it, so a delivery seen twice publishes nothing new.
    """

    platform: BotPlatform
    platform_user_id: str
    chat_id: str
    delivery_id: str


@dataclass(frozen=True, slots=True)
class Reply:
    """What a bot answers at once. ``request_id`` is set when a chat request was published: the
    agent's answer follows later, on ``ixo.chat.responses``."""

    text: str = ""
    request_id: str | None = None

    @property
    def answer_pending(self) -> bool:
        return self.request_id is not None


@dataclass(frozen=True, slots=True)
class Link:
    """The Impressox user a platform account is linked to."""

    user_id: str
    chat_id: str


@dataclass(frozen=True, slots=True)
class PriceView:
    symbol: str
    price: str
    venue: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class AlertView:
    """One past rule match of a user."""

    rule_id: str
    symbol: str
    price: str
    triggered_at: datetime


class LinkStore(Protocol):
    """Current link of each platform account (a lookup over ``ixo.users.links``)."""

    async def get(self, platform: BotPlatform, platform_user_id: str) -> Link | None: ...

    async def put(self, link: UserLinkedV1, *, partition: int, offset: int) -> bool:
        """Record ``link`` unless a later event of the same link is recorded already."""
        ...


class OnceStore(Protocol):
    """Runs the work of one delivery once and remembers its reply (for redeliveries)."""

    async def run(self, key: str, work: Callable[[], Awaitable[Reply]]) -> Reply: ...
