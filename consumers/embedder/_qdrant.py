"""The Qdrant adapter of :class:`VectorStore` (decisions 0126 and 0128).

One code path for both modes: qdrant-client's synchronous ``QdrantClient`` driven from a
thread pool. In local mode (``IXO_QDRANT_PATH``) the store is a folder one process may open,
every call runs on a single worker thread (the local engine is not thread-safe, and its
per-point SQLite commits would otherwise block the event loop); with ``IXO_QDRANT_URL`` calls
run on a few threads against the server, which keeps payload indexes for the filters.

Qdrant's errors are mapped here: unreachable or 5xx -> :class:`TransientError`, anything else
the server refuses -> :class:`PermanentError`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
from numpy.typing import NDArray
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from consumers.embedder._collections import ALIAS
from consumers.embedder._types import CollectionInfo, ModelInfo, Point, SearchFilters
from schemas import PermanentError, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")

KEYWORD_FIELDS = ("doc_id", "source", "symbols", "owner")
SERVER_THREADS = 8


class StoreUnavailable(Exception):  # noqa: N818 - a verdict
    """The local store cannot be opened (another process holds it) or the server refused."""


class QdrantStore:
    """Versioned collections and the ``knowledge`` alias in one Qdrant (local or server)."""

    def __init__(self, client: QdrantClient, *, local: bool, alias: str = ALIAS) -> None:
        self._client = client
        self.local = local
        self.alias = alias
        self._executor = ThreadPoolExecutor(
            max_workers=1 if local else SERVER_THREADS, thread_name_prefix="ixo-qdrant"
        )

    @classmethod
    def open_local(cls, path: Path, *, alias: str = ALIAS) -> QdrantStore:
        path.mkdir(parents=True, exist_ok=True)
        try:
            client = QdrantClient(path=str(path))
        except RuntimeError as exc:  # "already accessed by another instance"
            msg = (
                f"the local Qdrant store {path} is open in another process (the embedder owns"
                f" it; search and replay through it, or set IXO_QDRANT_URL): {exc}"
            )
            raise StoreUnavailable(msg) from None
        return cls(client, local=True, alias=alias)

    @classmethod
    def open_server(cls, url: str, api_key: str | None, *, alias: str = ALIAS) -> QdrantStore:
        client = QdrantClient(url=url, api_key=api_key or None, timeout=30)
        return cls(client, local=False, alias=alias)

    async def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        except (ResponseHandlingException, httpx.TransportError) as exc:
            msg = f"Qdrant is unreachable: {exc}"
            raise TransientError(msg) from exc
        except UnexpectedResponse as exc:
            msg = f"Qdrant answered {exc.status_code}: {exc.reason_phrase}"
            code = exc.status_code or 0
            if code >= 500 or code == 429:
                raise TransientError(msg) from exc
            raise PermanentError(msg) from exc
        except ValueError as exc:  # local mode: unknown collection, invalid request
            msg = f"Qdrant refused: {exc}"
            raise PermanentError(msg) from exc

    # -- collections and the alias ------------------------------------------------------------

    async def _alias_target(self) -> str | None:
        found = await self._call(self._client.get_aliases)
        for alias in found.aliases:
            if alias.alias_name == self.alias:
                return alias.collection_name
        return None

    async def info(self, name: str) -> CollectionInfo:
        described = await self._call(self._client.get_collection, name)
        meta = described.config.metadata or {}
        vectors = described.config.params.vectors
        size = vectors.size if isinstance(vectors, models.VectorParams) else 0
        return CollectionInfo(
            name=name,
            model=str(meta.get("model", "unknown")),
            revision=str(meta.get("model_revision", "unknown")),
            size=int(meta.get("vector_size", size)),
        )

    async def live(self) -> CollectionInfo | None:
        name = await self._alias_target()
        return None if name is None else await self.info(name)

    async def collections(self) -> list[CollectionInfo]:
        found = await self._call(self._client.get_collections)
        return [await self.info(c.name) for c in found.collections]

    async def create(self, name: str, model: ModelInfo) -> CollectionInfo:
        await self._call(
            self._client.create_collection,
            name,
            vectors_config=models.VectorParams(size=model.size, distance=models.Distance.COSINE),
            metadata={
                "model": model.id,
                "model_revision": model.revision,
                "vector_size": model.size,
            },
        )
        if not self.local:  # local mode keeps no payload indexes (it scans)
            for field in KEYWORD_FIELDS:
                await self._call(
                    self._client.create_payload_index,
                    name,
                    field,
                    models.PayloadSchemaType.KEYWORD,
                )
            await self._call(
                self._client.create_payload_index,
                name,
                "created_ts",
                models.PayloadSchemaType.FLOAT,
            )
        log.info("created collection", extra={"collection": name, "model": model.id})
        return CollectionInfo(name, model.id, model.revision, model.size)

    async def drop(self, name: str) -> None:
        await self._call(self._client.delete_collection, name)
        log.info("dropped collection", extra={"collection": name})

    async def point_alias(self, name: str) -> None:
        current = await self._alias_target()
        operations: list[models.DeleteAliasOperation | models.CreateAliasOperation] = []
        if current is not None:
            operations.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.alias))
            )
        operations.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=name, alias_name=self.alias)
            )
        )
        await self._call(self._client.update_collection_aliases, operations)
        log.info("alias moved", extra={"alias": self.alias, "collection": name, "was": current})

    # -- points ---------------------------------------------------------------------------------

    async def upsert(
        self, collection: str, points: Sequence[Point], vectors: NDArray[np.float32]
    ) -> None:
        if not points:
            return
        batch = models.Batch(
            ids=[p.id for p in points],
            vectors=vectors.tolist(),
            payloads=[p.payload for p in points],
        )
        await self._call(self._client.upsert, collection, batch, wait=True)

    async def delete_stale(
        self, collection: str, doc_ids: Sequence[str], keep: Sequence[str]
    ) -> None:
        if not doc_ids:
            return
        must_not: list[models.Condition] = (
            [models.HasIdCondition(has_id=list(keep))] if keep else []
        )
        selector = models.FilterSelector(
            filter=models.Filter(
                must=[
                    models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(doc_ids)))
                ],
                must_not=must_not,
            )
        )
        await self._call(self._client.delete, collection, selector, wait=True)

    async def count(self, collection: str) -> int:
        return (await self._call(self._client.count, collection, exact=True)).count

    async def search(
        self,
        collection: str,
        vector: NDArray[np.float32],
        *,
        k: int,
        filters: SearchFilters | None,
    ) -> list[tuple[str, float, dict[str, object]]]:
        query = vector.tolist()
        if self.local and filters is not None and search_filter(filters) is not None:
            # Local mode evaluates a filter in Python on every point (seconds at 100k points);
            # the best unfiltered candidates, filtered here, are exact whenever enough of them
            # pass; else fall back to the engine's filter (decision 0131).
            for fetch in (k * 10, k * 100):
                found = await self._call(
                    self._client.query_points,
                    collection,
                    query=query,
                    limit=fetch,
                    with_payload=True,
                )
                kept = [p for p in found.points if matches(filters, p.payload or {})]
                if len(kept) >= k or len(found.points) < fetch:
                    return [(str(p.id), float(p.score), dict(p.payload or {})) for p in kept[:k]]
        found = await self._call(
            self._client.query_points,
            collection,
            query=query,
            limit=k,
            query_filter=search_filter(filters),
            with_payload=True,
        )
        return [(str(p.id), float(p.score), dict(p.payload or {})) for p in found.points]

    async def close(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._client.close)
        finally:
            self._executor.shutdown(wait=False)


def search_filter(filters: SearchFilters | None) -> models.Filter | None:
    """The payload filter of a search: source, time, symbol, and whose documents it may see
    (posts are public; a document only to its owner)."""
    if filters is None:
        return None
    must: list[models.Condition] = []
    if filters.source is not None:
        must.append(
            models.FieldCondition(key="source", match=models.MatchValue(value=filters.source))
        )
    if filters.since is not None:
        must.append(
            models.FieldCondition(
                key="created_ts", range=models.Range(gte=filters.since.timestamp())
            )
        )
    if filters.symbol is not None:
        must.append(
            models.FieldCondition(key="symbols", match=models.MatchAny(any=[filters.symbol]))
        )
    if filters.owner is not None:
        must.append(
            models.Filter(
                should=[
                    models.FieldCondition(key="source", match=models.MatchValue(value="post")),
                    models.FieldCondition(
                        key="owner", match=models.MatchValue(value=filters.owner)
                    ),
                ]
            )
        )
    return models.Filter(must=must) if must else None


def matches(filters: SearchFilters, payload: dict[str, Any]) -> bool:
    """The same verdict as :func:`search_filter` on one payload (local mode's post-filter)."""
    if filters.source is not None and payload.get("source") != filters.source:
        return False
    if filters.since is not None:
        stamp = payload.get("created_ts")
        if not isinstance(stamp, int | float) or stamp < filters.since.timestamp():
            return False
    if filters.symbol is not None and filters.symbol not in (payload.get("symbols") or ()):
        return False
    return filters.owner is None or (
        payload.get("source") == "post" or payload.get("owner") == filters.owner
    )
