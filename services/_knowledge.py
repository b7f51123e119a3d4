"""Knowledge for users and the agent: dense search over posts and documents, and the posts.

Search goes through the embedder's :class:`KnowledgeSearch` port, whichever process owns the
store; without one every search raises :class:`KnowledgeUnavailable` (the gateway answers 503,
the CLI exits 1, the agent's tool reports it). Posts are public; a document is its owner's: a
caller's ``owner`` reaches the port as a filter, and the hits are checked again here, so an
adapter that ignored the filter still shows nobody another user's document (decision 0132).

The posts come from the ``posts`` read model (the projector folds ``ixo.social.posts``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from consumers.embedder import (
    KnowledgeHit,
    KnowledgeSearch,
    KnowledgeSource,
    KnowledgeUnavailable,
    SearchFilters,
)
from readmodels import Post, ReadModels
from schemas import InvalidEvent, normalise_symbol
from services._commands import parse_input

MAX_QUERY_CHARS: Final = 500
"""The longest search query or posts text filter (characters)."""
MAX_K: Final = 50
"""The most hits one search returns."""
DEFAULT_K: Final = 10
MAX_POSTS: Final = 200
"""The most posts one listing returns."""
DEFAULT_POSTS: Final = 50
UNAVAILABLE: Final = (
    "knowledge search is not available here: no knowledge store is connected "
    "(start the embedder: ixo run embedder, or set IXO_QDRANT_URL)"
)


def citation(hit: KnowledgeHit) -> str:
    """How an answer cites a hit: a post's URL; a document's id and chunk."""
    if hit.source == "post":
        return hit.url or hit.doc_id
    return f"{hit.doc_id} chunk {hit.chunk}"


def _words(value: str) -> str:
    words = " ".join(value.split())
    if not words:
        msg = "give some words to look for"
        raise ValueError(msg)
    return words


def _symbol(value: str | None) -> str | None:
    return None if value is None else normalise_symbol(value)


class KnowledgeQuery(BaseModel):
    """A search, as any client asks it (validated here, so every client gets the same limits)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K)
    source: KnowledgeSource | None = None
    since: AwareDatetime | None = None
    symbol: str | None = Field(default=None, min_length=1, max_length=30)

    _query = field_validator("query")(_words)
    _normalise = field_validator("symbol")(_symbol)


class PostsQuery(BaseModel):
    """A posts listing: by symbol tag, by words in the text, since a time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str | None = Field(default=None, min_length=1, max_length=30)
    text: str | None = Field(default=None, min_length=1, max_length=MAX_QUERY_CHARS)
    since: AwareDatetime | None = None
    limit: int = Field(default=DEFAULT_POSTS, ge=1, le=MAX_POSTS)

    _normalise = field_validator("symbol")(_symbol)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _words(value)


def may_read(hit: KnowledgeHit, owner: str | None) -> bool:
    """Whether a caller scoped to ``owner`` (None: everything, operators) may see ``hit``."""
    return owner is None or hit.source == "post" or hit.owner == owner


def hit_view(hit: KnowledgeHit) -> dict[str, Any]:
    """A hit as the HTTP API and the CLI show it, with its citation (never its owner)."""
    view: dict[str, Any] = hit.model_dump(mode="json", exclude={"owner"})
    view["citation"] = citation(hit)
    return view


def post_view(post: Post) -> dict[str, Any]:
    """A post as the HTTP API and the CLI show it."""
    view: dict[str, Any] = post.model_dump(mode="json", exclude={"id", "order", "event_id"})
    return view


class KnowledgeService:
    """Search (through the embedder's port, when one is connected) and the posts read model."""

    def __init__(self, reads: ReadModels, index: KnowledgeSearch | None = None) -> None:
        self._reads = reads
        self._index = index

    @property
    def searchable(self) -> bool:
        """Whether a knowledge store is connected (else :meth:`search` raises)."""
        return self._index is not None

    async def search(
        self,
        query: str,
        *,
        owner: str | None,
        k: int = DEFAULT_K,
        source: str | None = None,
        since: datetime | None = None,
        symbol: str | None = None,
    ) -> list[KnowledgeHit]:
        """The ``k`` passages nearest ``query``, best first: posts, and documents of ``owner``
        (every document when ``owner`` is None: operators only). :class:`InvalidEvent` names a
        bad argument; :class:`KnowledgeUnavailable` when no store answers."""
        ask = parse_input(
            KnowledgeQuery,
            {"query": query, "k": k, "source": source, "since": since, "symbol": symbol},
        )
        if self._index is None:
            raise KnowledgeUnavailable(UNAVAILABLE)
        filters = SearchFilters(source=ask.source, since=ask.since, symbol=ask.symbol, owner=owner)
        hits = await self._index.search(ask.query, k=ask.k, filters=filters)
        return [hit for hit in hits if may_read(hit, owner)][: ask.k]

    async def posts(
        self,
        *,
        symbol: str | None = None,
        text: str | None = None,
        since: datetime | None = None,
        limit: int = DEFAULT_POSTS,
    ) -> list[Post]:
        """Posts newest first: tagged with ``symbol`` (``btc`` means ``BTCUSDT``), containing
        ``text`` (case-insensitive), created at or after ``since``."""
        ask = parse_input(
            PostsQuery, {"symbol": symbol, "text": text, "since": since, "limit": limit}
        )
        return await self._reads.posts(
            symbol=ask.symbol, text=ask.text, since=ask.since, limit=ask.limit
        )

    async def recent_posts(
        self, symbol_or_query: str, *, since: datetime | None = None, limit: int = 20
    ) -> list[Post]:
        """Posts about a symbol or containing words, newest first: ``$ETH`` is the symbol only;
        one word that reads as a symbol (``btc``) finds posts tagged with it or containing it;
        anything else is words the text contains."""
        words = " ".join(symbol_or_query.split())
        if words.startswith("$") and " " not in words:
            try:
                symbol = normalise_symbol(words[1:])
            except ValueError as exc:
                raise InvalidEvent(
                    str(exc), kind="invalid_event", field="symbol_or_query"
                ) from None
            return await self.posts(symbol=symbol, since=since, limit=limit)
        ask = parse_input(PostsQuery, {"text": words, "since": since, "limit": limit})
        assert ask.text is not None
        symbol_like: str | None = None
        if " " not in ask.text:
            try:
                symbol_like = normalise_symbol(ask.text)
            except ValueError:
                symbol_like = None
        return await self._reads.posts(
            symbol=symbol_like,
            text=ask.text,
            either=True,
            since=ask.since,
            limit=ask.limit,
        )
