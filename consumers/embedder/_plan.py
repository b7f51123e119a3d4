"""What to write for a batch of events: the items to index, their chunks and point ids.

Pure functions of the events (decision 0127): a post is ``post-<post_id>`` with its URL,
symbols and time; a submitted document is its ``doc_id`` with its source, title and owner. A
point's id is uuid5 of (doc id, sha256 of the chunk's text, model id): the same chunk of the
same document under the same model always lands on the same point, so redelivery and replay
overwrite instead of duplicating, and an edited document's changed chunks get new ids (the
old ones are deleted after the write, see :class:`~consumers.embedder._indexer.Indexer`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from consumers.embedder._chunks import Chunker
from consumers.embedder._types import KnowledgeSource, Point
from schemas import AnyEvent, PermanentError, RagDocumentSubmittedV1, SocialPostScrapedV1

POINT_NAMESPACE = uuid.UUID("5b7f3c1e-2f3a-5d42-9f0e-6c1a7e0b9d21")
"""The uuid5 namespace of point ids (fixed forever: changing it re-ids every point)."""

POST_PREFIX = "post-"


class DocumentTooLarge(PermanentError):  # noqa: N818 - a verdict
    """A document with more chunks than ``IXO_EMBED_MAX_CHUNKS``: dead-lettered, not indexed."""


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to index: a post or a document version."""

    doc_id: str
    source: KnowledgeSource
    text: str
    url: str | None
    title: str | None
    symbols: tuple[str, ...]
    created_at: datetime
    owner: str | None
    origin: str
    """Where it came from: the post's URL or the document's ``source`` (for the indexed event)."""


@dataclass(frozen=True, slots=True)
class PlannedDoc:
    """An item and the points its chunks become (distinct ids, in chunk order)."""

    item: Item
    points: tuple[Point, ...]
    texts: tuple[str, ...]

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.points]


def point_id(doc_id: str, text: str, model_id: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return str(uuid.uuid5(POINT_NAMESPACE, f"{doc_id}\x00{digest}\x00{model_id}"))


def item_of(event: AnyEvent) -> Item | None:
    """The item an event asks to index; ``None`` for events the embedder ignores (the
    ``indexed`` events on the documents topic)."""
    data = event.data
    if isinstance(data, SocialPostScrapedV1):
        return Item(
            doc_id=f"{POST_PREFIX}{data.post_id}",
            source="post",
            text=data.text,
            url=data.url,
            title=None,
            symbols=tuple(data.symbols),
            created_at=data.created_at,
            owner=None,
            origin=data.url,
        )
    if isinstance(data, RagDocumentSubmittedV1):
        return Item(
            doc_id=data.doc_id,
            source="document",
            text=data.text,
            url=data.source,
            title=data.title,
            symbols=(),
            created_at=event.time,
            owner=data.owner,
            origin=data.source,
        )
    return None


def latest_items(events: Iterable[AnyEvent]) -> list[Item]:
    """The last version of each doc id among ``events`` (in their order: a key's events are
    ordered on its partition), first-seen order kept."""
    latest: dict[str, Item] = {}
    for event in events:
        item = item_of(event)
        if item is not None:
            latest.pop(item.doc_id, None)
            latest[item.doc_id] = item
    return list(latest.values())


def payload_of(item: Item, chunk: int, text: str) -> dict[str, object]:
    return {
        "doc_id": item.doc_id,
        "chunk": chunk,
        "text": text,
        "source": item.source,
        "url": item.url,
        "title": item.title,
        "symbols": list(item.symbols),
        "created_at": item.created_at.isoformat(),
        "created_ts": item.created_at.timestamp(),
        "owner": item.owner,
    }


def plan(item: Item, chunker: Chunker, model_id: str, *, max_chunks: int) -> PlannedDoc:
    """The points of ``item``'s chunks. A chunk repeated word for word inside one document is
    stored once (same id), at its first index."""
    chunks = chunker.chunks(item.text)
    if len(chunks) > max_chunks:
        msg = (
            f"document {item.doc_id} has {len(chunks)} chunks, more than IXO_EMBED_MAX_CHUNKS"
            f" ({max_chunks})"
        )
        raise DocumentTooLarge(msg)
    points: list[Point] = []
    texts: list[str] = []
    seen: set[str] = set()
    for index, text in enumerate(chunks):
        pid = point_id(item.doc_id, text, model_id)
        if pid in seen:
            continue
        seen.add(pid)
        points.append(Point(pid, payload_of(item, index, text)))
        texts.append(text)
    return PlannedDoc(item, tuple(points), tuple(texts))


def batches(values: Sequence[object], size: int) -> list[range]:
    """Index ranges of consecutive slices of at most ``size``."""
    return [range(i, min(i + size, len(values))) for i in range(0, len(values), size)]
