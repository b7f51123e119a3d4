"""``GET /v1/search`` and ``GET /v1/posts``: the knowledge base for its users.

A search finds the passages nearest a query among the scraped posts and the caller's own
documents (never another user's: the caller's id is the search's owner filter, decision 0132),
each with its citation. The posts listing reads the ``posts`` projection, newest first. Bad
parameters get 422 naming the parameter (``loc``: ``["query", "<name>"]``); a search with no
knowledge store connected gets 503 (the embedder is not running), as does a read model that
does not answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from producers.gateway._auth import PrincipalDep
from producers.gateway._deps import ServicesDep
from producers.gateway._errors import bounded
from producers.gateway._openapi import documented
from schemas import InvalidEvent
from services import (
    MAX_K,
    MAX_POSTS,
    MAX_QUERY_CHARS,
    KnowledgeUnavailable,
    hit_view,
    post_view,
)

TAG = "knowledge"
PARAMETERS = {"query": "q", "text": "q"}
"""The service's argument names that the routes call otherwise."""

Symbol = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=30,
        description="a symbol or pair: `BTC` means `BTCUSDT`",
    ),
]
Since = Annotated[
    AwareDatetime | None,
    Query(description="only what was created at or after this time (ISO 8601 with a zone)"),
]


class Hit(BaseModel):
    """A passage found: a post, or one chunk of a document of yours."""

    model_config = ConfigDict(frozen=True)

    doc_id: str = Field(description="`post-<post id>` for a post, else the document id")
    chunk: int = Field(description="the chunk's index in its document (0 for a post)")
    text: str
    score: float = Field(description="cosine similarity to the query (higher is nearer)")
    source: Literal["post", "document"]
    citation: str = Field(description="how to cite it: the post's URL, or `<doc_id> chunk <n>`")
    url: str | None = None
    title: str | None = None
    symbols: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class SearchResults(BaseModel):
    model_config = ConfigDict(frozen=True)

    query: str
    count: int
    hits: list[Hit]


class PostOut(BaseModel):
    """A scraped social post."""

    model_config = ConfigDict(frozen=True)

    post_id: str
    author: str
    text: str
    url: str
    created_at: datetime
    metrics: dict[str, int] = Field(default_factory=dict)
    symbols: list[str] = Field(default_factory=list)


class PostsPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    count: int
    posts: list[PostOut]


def _invalid_parameter(exc: InvalidEvent) -> RequestValidationError:
    """The service's refusal as FastAPI's own 422 for a query parameter."""
    name = (exc.field or "q").split(".", 1)[0]
    return RequestValidationError(
        [
            {
                "loc": ("query", PARAMETERS.get(name, name)),
                "msg": str(exc),
                "type": "value_error",
            }
        ]
    )


def knowledge_router() -> APIRouter:
    """The routes, over the app's services (the app maps TransientError to 503)."""
    router = APIRouter(prefix="/v1", tags=[TAG])

    @router.get("/search", response_model=SearchResults, responses=documented(422, 503))
    async def search(
        *,
        svc: ServicesDep,
        principal: PrincipalDep,
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="words")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="how many passages")] = 10,
        source: Annotated[
            Literal["post", "document"] | None,
            Query(description="only posts, or only your documents"),
        ] = None,
        since: Since = None,
        symbol: Symbol = None,
    ) -> dict[str, Any]:
        """The passages nearest `q` (dense search), best first: scraped posts and your own
        documents, each with its `citation`. 503 when no knowledge store is connected."""
        try:
            hits = await svc.knowledge.search(
                q,
                owner=principal.user_id,
                k=k,
                source=source,
                since=since,
                symbol=symbol,
            )
        except InvalidEvent as exc:
            raise _invalid_parameter(exc) from None
        except KnowledgeUnavailable as exc:
            raise HTTPException(status_code=503, detail=bounded(str(exc))) from None
        views = [hit_view(h) for h in hits]
        return {"query": q, "count": len(views), "hits": views}

    @router.get("/posts", response_model=PostsPage, responses=documented(422, 503))
    async def posts(
        *,
        svc: ServicesDep,
        symbol: Symbol = None,
        q: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_QUERY_CHARS,
                description="only posts containing these words (case-insensitive)",
            ),
        ] = None,
        since: Since = None,
        limit: Annotated[int, Query(ge=1, le=MAX_POSTS)] = 50,
    ) -> dict[str, Any]:
        """Scraped social posts, newest first: tagged with `symbol`, containing `q`, created
        since `since`."""
        try:
            found = await svc.knowledge.posts(symbol=symbol, text=q, since=since, limit=limit)
        except InvalidEvent as exc:
            raise _invalid_parameter(exc) from None
        return {"count": len(found), "posts": [post_view(p) for p in found]}

    return router
