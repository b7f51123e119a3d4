"""The RAG embedder: posts and submitted documents chunked, embedded and written to Qdrant
behind the ``knowledge`` alias; searched through :class:`KnowledgeSearch` (decisions 0126-0131).

The FastStream app, :func:`open_knowledge_search` and :func:`replay_knowledge` are in
``consumers.embedder.app`` (the composition root; it imports the wiring layer).
"""

from consumers.embedder._chunks import Chunker
from consumers.embedder._collections import ALIAS, alias_for, collection_name
from consumers.embedder._indexer import Indexer, WriteResult
from consumers.embedder._plan import DocumentTooLarge, Item, item_of, point_id
from consumers.embedder._replay import KnowledgeReplay, ReplayReport
from consumers.embedder._types import (
    CollectionInfo,
    Encoder,
    KnowledgeHit,
    KnowledgeSearch,
    KnowledgeSource,
    KnowledgeUnavailable,
    ModelInfo,
    ModelMismatch,
    QuerySamples,
    ReplayFailed,
    SearchFilters,
    VectorStore,
)

__all__ = [
    "ALIAS",
    "Chunker",
    "CollectionInfo",
    "DocumentTooLarge",
    "Encoder",
    "Indexer",
    "Item",
    "KnowledgeHit",
    "KnowledgeReplay",
    "KnowledgeSearch",
    "KnowledgeSource",
    "KnowledgeUnavailable",
    "ModelInfo",
    "ModelMismatch",
    "QuerySamples",
    "ReplayFailed",
    "ReplayReport",
    "SearchFilters",
    "VectorStore",
    "WriteResult",
    "alias_for",
    "collection_name",
    "item_of",
    "point_id",
]
