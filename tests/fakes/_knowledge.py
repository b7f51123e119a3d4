"""A knowledge store of our own :class:`services.KnowledgeSearch` port, in memory: ranks passages
by word overlap with the query and applies the payload filters as the embedder's Qdrant search
does. It records every search it was asked, so a test can assert on the filters that reached the
port; ``ignore_owner`` makes it a faulty adapter that forgets the owner filter."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services import KnowledgeHit, KnowledgeUnavailable, SearchFilters

_WORD = re.compile(r"[a-z0-9$]+")


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


@dataclass(frozen=True, slots=True)
class Asked:
    """One search the port received."""

    query: str
    k: int
    filters: SearchFilters


@dataclass
class WordOverlapKnowledge:
    passages: list[KnowledgeHit] = field(default_factory=list)
    asked: list[Asked] = field(default_factory=list)
    ignore_owner: bool = False
    down: bool = False
    closed: bool = False

    def _passes(self, hit: KnowledgeHit, filters: SearchFilters) -> bool:
        if filters.source is not None and hit.source != filters.source:
            return False
        if filters.symbol is not None and filters.symbol not in hit.symbols:
            return False
        if filters.since is not None and (hit.created_at is None or hit.created_at < filters.since):
            return False
        owner_ok = hit.source == "post" or hit.owner == filters.owner
        return self.ignore_owner or filters.owner is None or owner_ok

    async def search(
        self, query: str, *, k: int = 10, filters: SearchFilters | None = None
    ) -> list[KnowledgeHit]:
        wanted = filters or SearchFilters()
        self.asked.append(Asked(query, k, wanted))
        if self.down:
            msg = "the knowledge store does not answer (test)"
            raise KnowledgeUnavailable(msg)
        asked = words(query)
        scored = []
        for hit in self.passages:
            if not self._passes(hit, wanted):
                continue
            overlap = len(asked & words(hit.text)) / max(len(asked), 1)
            if overlap > 0:
                scored.append(hit.model_copy(update={"score": overlap}))
        scored.sort(key=lambda h: (-h.score, h.doc_id, h.chunk))
        return scored[:k]

    async def close(self) -> None:
        self.closed = True
