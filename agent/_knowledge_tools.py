"""The knowledge tools: ``search_knowledge`` (dense search over posts and the user's documents)
and ``recent_posts`` (the ``posts`` read model), through the :class:`KnowledgePort` wired as
``Ports(extras={"knowledge": ...})``.

Every passage a tool returns carries its ``citation`` as the port gave it (the service layer
words it: the post's URL, or the document id and chunk). The model is told to cite them; the
offline planner's answer lists them (decision 0135).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from agent._tools import ToolContext, tool
from agent._types import KnowledgeHitView, KnowledgePort, PostView
from schemas import normalise_symbol

KNOWLEDGE_PORT: Final = "knowledge"
"""The name of the :class:`KnowledgePort` in ``Ports.extras``."""
MAX_QUERY_CHARS: Final = 500
"""The longest query a tool (and the search route) takes."""
MAX_TOOL_HITS: Final = 20
"""The most passages one ``search_knowledge`` call returns to the model."""
MAX_TOOL_POSTS: Final = 20
SNIPPET_CHARS: Final = 600
"""The most characters of a passage put in a tool result (the model reads every one)."""
POST_CHARS: Final = 400


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0] or flat[: limit - 1]
    return cut + "…"


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchKnowledgeArgs(_Args):
    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="What to look for, in words (a question or keywords)",
    )
    k: int = Field(default=5, ge=1, le=MAX_TOOL_HITS, description="How many passages")
    source: Literal["post", "document"] | None = Field(
        default=None, description="Only social posts, or only the user's documents"
    )
    since: AwareDatetime | None = Field(
        default=None, description="Only passages created at or after this time (ISO 8601, UTC)"
    )
    symbol: str | None = Field(
        default=None,
        max_length=30,
        description="Only passages about this symbol, e.g. BTC (meaning BTCUSDT)",
    )

    @field_validator("query")
    @classmethod
    def _words(cls, value: str) -> str:
        words = " ".join(value.split())
        if not words:
            msg = "the query has no words"
            raise ValueError(msg)
        return words

    @field_validator("symbol")
    @classmethod
    def _normalise(cls, value: str | None) -> str | None:
        return None if value is None else normalise_symbol(value)


class RecentPostsArgs(_Args):
    symbol_or_query: str = Field(
        min_length=1,
        max_length=200,
        description="A symbol (BTC, $ETH, SOLUSDT) or words the posts contain",
    )
    since: AwareDatetime | None = Field(
        default=None, description="Only posts created at or after this time (ISO 8601, UTC)"
    )
    limit: int = Field(default=5, ge=1, le=MAX_TOOL_POSTS, description="How many posts")

    @field_validator("symbol_or_query")
    @classmethod
    def _words(cls, value: str) -> str:
        words = " ".join(value.split())
        if not words:
            msg = "give a symbol or some words"
            raise ValueError(msg)
        return words


def hit_summary(n: int, hit: KnowledgeHitView) -> dict[str, Any]:
    """A passage as the model and the planner see it: numbered, cited, its text cut short."""
    out: dict[str, Any] = {
        "n": n,
        "citation": hit.citation,
        "source": hit.source,
        "doc_id": hit.doc_id,
        "chunk": hit.chunk,
        "score": round(hit.score, 4),
        "text": snippet(hit.text),
    }
    if hit.url:
        out["url"] = hit.url
    if hit.title:
        out["title"] = hit.title
    if hit.symbols:
        out["symbols"] = list(hit.symbols)
    if hit.created_at is not None:
        out["created_at"] = hit.created_at.isoformat()
    return out


def post_summary(post: PostView) -> dict[str, Any]:
    """A post as the model and the planner see it (its URL is its citation)."""
    return {
        "citation": post.url,
        "author": post.author,
        "created_at": post.created_at.isoformat(),
        "text": snippet(post.text, POST_CHARS),
        "symbols": list(post.symbols),
    }


def _port(ctx: ToolContext) -> KnowledgePort:
    """The knowledge port of the run; a :class:`ToolError` when none is wired."""
    port: KnowledgePort = ctx.ports.extra(KNOWLEDGE_PORT)  # noqa: S610 - a port, not Django
    return port


def _since(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@tool(
    description="Search the knowledge base (scraped social posts and the user's own documents) "
    "for passages about a question. Each passage has a `citation`: cite it in the answer.",
)
async def search_knowledge(args: SearchKnowledgeArgs, ctx: ToolContext) -> dict[str, Any]:
    # Not cached by arguments: the result depends on the user (their documents), and the
    # registry's read cache is keyed by the arguments alone (decision 0135).
    hits = await _port(ctx).search(
        ctx.user_id,
        args.query,
        k=args.k,
        source=args.source,
        since=args.since,
        symbol=args.symbol,
    )
    return {
        "query": args.query,
        "count": len(hits),
        "hits": [hit_summary(n, hit) for n, hit in enumerate(hits, start=1)],
    }


@tool(
    description="The latest scraped social posts about a symbol (BTC, $ETH) or containing some "
    "words, newest first. Each post's `citation` is its URL: cite it in the answer.",
    cache_ttl_s=10,
)
async def recent_posts(args: RecentPostsArgs, ctx: ToolContext) -> dict[str, Any]:
    posts = await _port(ctx).recent_posts(args.symbol_or_query, since=args.since, limit=args.limit)
    out: dict[str, Any] = {
        "symbol_or_query": args.symbol_or_query,
        "count": len(posts),
        "posts": [post_summary(p) for p in posts],
    }
    since = _since(args.since)
    if since is not None:
        out["since"] = since
    return out
