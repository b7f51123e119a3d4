"""The knowledge base's vocabulary: what a search asks for and what it returns.

The embedder writes the index; the service layer (search routes, agent tools) reads it through
:class:`KnowledgeSearch`, whichever process owns the store (decision 0126).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

KnowledgeSource = Literal["post", "document"]


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Payload filters of a search.

    ``owner`` is whose documents the caller may see: posts are public, a document is visible to
    its owner only. ``None`` means no owner filter (operators and the embedder's own checks).
    """

    source: KnowledgeSource | None = None
    since: datetime | None = None
    symbol: str | None = None
    owner: str | None = None


class KnowledgeHit(BaseModel):
    """One chunk that matched, with what a citation needs."""

    model_config = ConfigDict(frozen=True)

    doc_id: str
    """``post-<post id>`` for a post, the document id for a document."""
    chunk: int = Field(ge=0)
    """The chunk's index in its document (0 for a short post)."""
    text: str
    score: float
    source: KnowledgeSource
    url: str | None = None
    """The post's URL, or the document's source (a path or URL) when it has one."""
    title: str | None = None
    symbols: tuple[str, ...] = ()
    created_at: datetime | None = None
    owner: str | None = None


class KnowledgeUnavailable(Exception):  # noqa: N818 - a state, like the other verdicts
    """The knowledge store cannot answer now (the embedder is not running, Qdrant is down)."""


class KnowledgeSearch(Protocol):
    """Dense search over the live collection (the ``knowledge`` alias)."""

    async def search(
        self, query: str, *, k: int = 10, filters: SearchFilters | None = None
    ) -> list[KnowledgeHit]: ...

    async def close(self) -> None: ...


# -- the embedder's own ports (decision 0126); its adapters are _model, _qdrant, _redis, _kafka --


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What identifies an embedding model: vectors of two different ones never mix."""

    id: str
    """A short slug (``all-minilm-l6-v2``); part of point ids and collection names."""
    revision: str
    """A digest of the weights and configuration (12 hex digits)."""
    size: int
    """Dimensions of its vectors."""
    max_tokens: int
    """Word pieces the model reads (longer input is truncated)."""


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A physical collection and the model its vectors come from (stored with it)."""

    name: str
    model: str
    revision: str
    size: int

    def built_by(self, model: ModelInfo) -> bool:
        return (self.model, self.revision, self.size) == (model.id, model.revision, model.size)


class ModelMismatch(Exception):  # noqa: N818 - a verdict
    """The live collection was built by another model: writing would mix vector spaces."""


class ReplayFailed(Exception):  # noqa: N818 - a verdict
    """A rebuilt collection failed its checks (or could not be built); the alias is unchanged."""


@dataclass(frozen=True, slots=True)
class Point:
    """One chunk as stored: its id, its vector's row in the batch and its payload."""

    id: str
    payload: dict[str, object]


class Encoder(Protocol):
    """Turns texts into normalized vectors (rows of a float32 matrix)."""

    @property
    def info(self) -> ModelInfo: ...

    async def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class VectorStore(Protocol):
    """The Qdrant side: versioned collections behind the ``knowledge`` alias."""

    @property
    def alias(self) -> str: ...

    async def live(self) -> CollectionInfo | None: ...

    async def collections(self) -> list[CollectionInfo]: ...

    async def create(self, name: str, model: ModelInfo) -> CollectionInfo: ...

    async def drop(self, name: str) -> None: ...

    async def point_alias(self, name: str) -> None:
        """Point the alias at ``name`` in one atomic operation (delete + create)."""
        ...

    async def upsert(
        self, collection: str, points: Sequence[Point], vectors: NDArray[np.float32]
    ) -> None: ...

    async def delete_stale(
        self, collection: str, doc_ids: Sequence[str], keep: Sequence[str]
    ) -> None:
        """Delete the points of ``doc_ids`` whose ids are not in ``keep``."""
        ...

    async def count(self, collection: str) -> int: ...

    async def search(
        self,
        collection: str,
        vector: NDArray[np.float32],
        *,
        k: int,
        filters: SearchFilters | None,
    ) -> list[tuple[str, float, dict[str, object]]]:
        """``(point id, score, payload)`` of the best ``k`` points, best first."""
        ...

    async def close(self) -> None: ...


class QuerySamples(Protocol):
    """The search queries kept as the sample of a replay's recall check."""

    async def record(self, query: str) -> None: ...

    async def recent(self, n: int) -> list[str]: ...
