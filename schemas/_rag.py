"""Documents submitted to and indexed by the knowledge base."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from schemas._base import EventData
from schemas._types import Id


class RagDocumentSubmittedV1(EventData):
    event_type: ClassVar[str] = "ixo.rag.document.submitted.v1"
    key_field: ClassVar[str] = "doc_id"

    doc_id: Id
    text: str = Field(min_length=1, max_length=5_000_000)
    source: str = Field(min_length=1, max_length=2000)
    owner: Id | None = None
    """The user whose document it is (the uploader); ``None`` on events from before owners."""
    title: str | None = Field(default=None, min_length=1, max_length=500)
    media_type: str | None = Field(default=None, min_length=1, max_length=100)
    """What the text was parsed from (``text/plain``, ``text/markdown``, ``text/html``,
    ``application/pdf``)."""


class RagDocumentIndexedV1(EventData):
    event_type: ClassVar[str] = "ixo.rag.document.indexed.v1"
    key_field: ClassVar[str] = "doc_id"

    doc_id: Id
    source: str = Field(min_length=1, max_length=2000)
    chunks: int = Field(ge=0)
    """Chunks of the document now searchable (0: nothing to index, e.g. whitespace only)."""
    model: str | None = Field(default=None, min_length=1, max_length=200)
    """The embedding model's id (``all-minilm-l6-v2``); ``None`` on events from before it."""
    model_revision: str | None = Field(default=None, min_length=1, max_length=100)
    """The model's revision: a digest of its weights and configuration."""
    vector_size: int | None = Field(default=None, ge=1)
    collection: str | None = Field(default=None, min_length=1, max_length=255)
    """The physical Qdrant collection the chunks were written to (the ``knowledge`` alias's)."""
