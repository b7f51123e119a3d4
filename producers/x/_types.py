"""Values of the X source: what is followed (a query or a timeline), posts, pages, the clock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

SEARCH_PATH = "/2/tweets/search/recent"
TIMELINE_PATH = "/2/users/{id}/tweets"


class Clock(Protocol):
    """Epoch time and a sleep; tests pass one that moves time without waiting."""

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Stream:
    """One thing the source follows: a recent-search ``query`` or a user's ``timeline``."""

    kind: Literal["search", "timeline"]
    value: str

    @property
    def key(self) -> str:
        """Its checkpoint's name."""
        return f"{self.kind}:{self.value}"

    @property
    def endpoint(self) -> str:
        """The rate-limited endpoint (X counts per endpoint, not per user id)."""
        return SEARCH_PATH if self.kind == "search" else TIMELINE_PATH

    @property
    def path(self) -> str:
        return SEARCH_PATH if self.kind == "search" else TIMELINE_PATH.format(id=self.value)


@dataclass(frozen=True)
class Post:
    id: str
    text: str
    author: str
    created_at: datetime
    metrics: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One answer: its posts (newest first, as X sends them) and the token of the next page."""

    posts: tuple[Post, ...]
    next_token: str | None


def newer(a: str | None, b: str | None) -> str | None:
    """The newer of two post ids (X ids grow with time; compare as integers)."""
    if a is None or b is None:
        return a or b
    return a if int(a) >= int(b) else b


def older(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if int(a) <= int(b) else b
