"""In-process :class:`KnowledgeSearch`: embed the query, dense search on the alias.

Used by the embedder (its search server answers through it) and by any process when
``IXO_QDRANT_URL`` names a server. Each query's text is kept (a capped list) as the sample a
replay checks recall on; failing to keep it never fails the search.
"""

from __future__ import annotations

import logging
from datetime import datetime

from consumers.embedder._collections import ALIAS
from consumers.embedder._types import (
    Encoder,
    KnowledgeHit,
    KnowledgeUnavailable,
    QuerySamples,
    SearchFilters,
    VectorStore,
)
from schemas import PermanentError, TransientError

log = logging.getLogger(__name__)

MAX_K = 100
MAX_QUERY_CHARS = 2000


def hit_of(score: float, payload: dict[str, object]) -> KnowledgeHit:
    created = payload.get("created_at")
    symbols = payload.get("symbols") or ()
    return KnowledgeHit(
        doc_id=str(payload.get("doc_id", "")),
        chunk=int(payload.get("chunk", 0)),  # type: ignore[call-overload]
        text=str(payload.get("text", "")),
        score=score,
        source="post" if payload.get("source") == "post" else "document",
        url=_opt_str(payload.get("url")),
        title=_opt_str(payload.get("title")),
        symbols=tuple(str(s) for s in symbols) if isinstance(symbols, list | tuple) else (),
        created_at=datetime.fromisoformat(created) if isinstance(created, str) else None,
        owner=_opt_str(payload.get("owner")),
    )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


class LocalKnowledgeSearch:
    """Search with the model and the store in this process."""

    def __init__(
        self,
        encoder: Encoder,
        store: VectorStore,
        samples: QuerySamples | None = None,
        *,
        collection: str = ALIAS,
        owns: bool = False,
    ) -> None:
        self._encoder = encoder
        self._store = store
        self._samples = samples
        self._collection = collection
        self._owns = owns

    async def search(
        self, query: str, *, k: int = 10, filters: SearchFilters | None = None
    ) -> list[KnowledgeHit]:
        text = query.strip()[:MAX_QUERY_CHARS]
        if not text:
            return []
        k = max(1, min(k, MAX_K))
        vector = (await self._encoder.encode([text]))[0]
        try:
            found = await self._store.search(self._collection, vector, k=k, filters=filters)
        except (TransientError, PermanentError) as exc:
            msg = f"the knowledge store cannot answer: {exc}"
            raise KnowledgeUnavailable(msg) from exc
        if self._samples is not None:
            try:
                await self._samples.record(text)
            except Exception:
                log.warning("could not keep the query as a replay sample", exc_info=True)
        return [hit_of(score, payload) for _, score, payload in found]

    async def close(self) -> None:
        if self._owns:
            await self._store.close()
