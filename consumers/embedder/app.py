"""FastStream wiring of the embedder: ``build_app(settings)``; ``ixo run embedder`` runs it.

Consumer group ``ixo.embedder`` (prefixed) reads ``ixo.social.posts`` and ``ixo.rag.documents``
in batches (the ``indexed`` events it publishes on the latter are ignored). At start it loads
the model, opens the store and checks the live collection: one built by another model stops
the start with :class:`ModelMismatch` (run ``ixo replay knowledge``); none yet: the first is
created. In local mode (no ``IXO_QDRANT_URL``) it then serves searches and replays on loopback,
since it alone can open the store (decision 0126).

:func:`open_knowledge_search` is how any other process searches; :func:`replay_knowledge` is
``ixo replay knowledge``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from faststream import FastStream
from numpy.typing import NDArray

from consumers.embedder._chunks import Chunker
from consumers.embedder._collections import alias_for, next_name
from consumers.embedder._http import HttpKnowledgeSearch, SearchServer, search_app
from consumers.embedder._indexer import Indexer, mismatch_message
from consumers.embedder._kafka import KafkaEventSource
from consumers.embedder._model import ModelUnavailable, SentenceModel
from consumers.embedder._qdrant import QdrantStore, StoreUnavailable
from consumers.embedder._redis import RedisQuerySamples
from consumers.embedder._replay import KnowledgeReplay, Progress, ReplayReport
from consumers.embedder._search import LocalKnowledgeSearch
from consumers.embedder._types import (
    CollectionInfo,
    KnowledgeHit,
    KnowledgeSearch,
    KnowledgeUnavailable,
    ModelInfo,
    ModelMismatch,
    ReplayFailed,
    SearchFilters,
)
from infra.kafka import Delivery, EventPublisher, make_broker, offsets_consumer, subscribe
from infra.redis import key_prefix, redis_client
from infra.secrets import local_key, parse_keys
from infra.settings import Settings, get_settings
from schemas import (
    RAG_DOCUMENTS,
    SOCIAL_POSTS,
    AnyEvent,
    CloudEvent,
    RagDocumentIndexedV1,
    TransientError,
    codec_for,
)

__all__ = [
    "GROUP",
    "KnowledgeUnavailable",
    "ModelMismatch",
    "ModelUnavailable",
    "ReplayFailed",
    "StoreUnavailable",
    "build_app",
    "open_knowledge_search",
    "replay_knowledge",
    "search_token",
]

log = logging.getLogger(__name__)

GROUP = "ixo.embedder"
SOURCE = "/consumers/embedder"
REDIS_COMPONENT = "embedder"
TOKEN_LABEL = b"impressox embedder search token v1"
MAX_RECORDS = 256


def search_token(settings: Settings) -> str:
    """The bearer of the embedder's server: HMAC-SHA256 of a fixed label under the first
    secrets key (``IXO_SECRETS_KEYS``, else the state dir's key); never logged."""
    keys = parse_keys(settings.secrets_keys.get_secret_value()) or [local_key(settings.state_dir)]
    return hmac.new(keys[0].encode(), TOKEN_LABEL, hashlib.sha256).hexdigest()


def open_store(settings: Settings) -> QdrantStore:
    """The Qdrant of these settings: the server at ``IXO_QDRANT_URL``, else the local folder
    (:class:`StoreUnavailable` when another process holds it)."""
    alias = alias_for(settings.topic_prefix)
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value()
        return QdrantStore.open_server(settings.qdrant_url, key, alias=alias)
    return QdrantStore.open_local(settings.qdrant_location, alias=alias)


def load_model(settings: Settings) -> SentenceModel:
    return SentenceModel.load(settings.embed_model, batch_size=settings.embed_batch_size)


def make_chunker(model: SentenceModel, settings: Settings) -> Chunker:
    capacity = min(settings.embed_chunk_tokens, model.info.max_tokens)
    overlap = min(settings.embed_chunk_overlap, capacity // 2)
    return Chunker.from_file(model.tokenizer_json, capacity=capacity, overlap=overlap)


def make_indexer(
    model: SentenceModel, store: QdrantStore, settings: Settings, sink: KafkaIndexedSink | None
) -> Indexer:
    return Indexer(
        model,
        store,
        make_chunker(model, settings),
        upsert_batch=settings.embed_upsert_batch,
        max_chunks=settings.embed_max_chunks,
        sink=sink,
    )


async def ensure_live(store: QdrantStore, model: ModelInfo) -> CollectionInfo:
    """The live collection, created (with the alias) when there is none; one built by another
    model is :class:`ModelMismatch`."""
    live = await store.live()
    if live is None:
        existing = [c.name for c in await store.collections()]
        name = next_name(store.alias, model, existing)
        created = await store.create(name, model)
        await store.point_alias(name)
        return created
    if not live.built_by(model):
        raise ModelMismatch(mismatch_message(live, model.id, model.revision))
    return live


class KafkaIndexedSink:
    """``ixo.rag.document.indexed.v1`` on ``ixo.rag.documents``, acknowledged before return."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, indexed: Sequence[tuple[RagDocumentIndexedV1, AnyEvent]]) -> None:
        events = [CloudEvent.new(data, source=SOURCE, causation=cause) for data, cause in indexed]
        futures = [await self._publisher.send(e, RAG_DOCUMENTS) for e in events]
        await asyncio.gather(*futures)


def samples_for(settings: Settings, client: Any) -> RedisQuerySamples:
    return RedisQuerySamples(
        client, key_prefix(settings, REDIS_COMPONENT), keep=settings.embed_query_samples
    )


@dataclass
class _Runtime:
    """What the embedder opens at start and closes at stop."""

    model: SentenceModel | None = None
    store: QdrantStore | None = None
    indexer: Indexer | None = None
    server: SearchServer | None = None
    closers: list[Any] = field(default_factory=list)


async def run_replay(
    settings: Settings,
    indexer: Indexer,
    samples: RedisQuerySamples | None,
    *,
    force: bool,
    drop_old: bool,
    progress: Progress | None,
) -> ReplayReport:
    """A replay with this indexer (its model and store), reading the topics from Kafka."""
    topics = {
        SOCIAL_POSTS.full_name(settings.topic_prefix): codec_for(SOCIAL_POSTS),
        RAG_DOCUMENTS.full_name(settings.topic_prefix): codec_for(RAG_DOCUMENTS),
    }
    async with offsets_consumer(settings) as consumer:
        source = KafkaEventSource(consumer, topics)
        return await KnowledgeReplay(
            indexer,
            source,
            samples,
            min_recall=settings.embed_replay_min_recall,
            force=force,
            drop_old=drop_old,
            progress=progress,
        ).run()


def build_app(
    settings: Settings | None = None, *, model: SentenceModel | None = None
) -> FastStream:
    """The embedder app; ``model`` (already loaded) saves loading it again (tests, benchmarks).
    Building contacts nothing; the model loads and the store opens at startup."""
    settings = settings or get_settings()
    broker = make_broker(settings, client_id="ixo-embedder")
    sink = KafkaIndexedSink(EventPublisher(broker, settings))
    redis = redis_client(settings)
    samples = samples_for(settings, redis)
    rt = _Runtime(model=model)

    async def handle(batch: Sequence[Delivery]) -> None:
        assert rt.indexer is not None
        try:
            await rt.indexer.handle([d.event for d in batch])
        except ModelMismatch as exc:  # the alias moved to another model's collection
            raise TransientError(str(exc)) from exc

    for topic in (SOCIAL_POSTS, RAG_DOCUMENTS):
        subscribe(broker, settings, topic, group=GROUP, handler=handle, max_records=MAX_RECORDS)

    async def open_runtime() -> None:
        if rt.model is None:
            rt.model = await asyncio.to_thread(load_model, settings)
            rt.closers.append(rt.model.close)
        store = open_store(settings)
        try:
            live = await ensure_live(store, rt.model.info)
        except BaseException:
            await store.close()  # a refused start leaves the store free for `ixo replay`
            for closer in rt.closers:
                closer()
            raise
        rt.store = store
        rt.indexer = make_indexer(rt.model, rt.store, settings, sink)
        log.info(
            "embedder ready",
            extra={"collection": live.name, "model": live.model, "revision": live.revision},
        )

    async def start_server() -> None:
        if settings.qdrant_url:
            return  # every process reaches the server itself
        assert rt.model is not None
        assert rt.store is not None
        assert rt.indexer is not None
        indexer = rt.indexer
        store = rt.store
        search = LocalKnowledgeSearch(rt.model, store, samples, collection=store.alias)

        async def status() -> dict[str, object]:
            live = await store.live()
            return {
                "alias": store.alias,
                "collection": live.name if live else None,
                "model": live.model if live else None,
                "revision": live.revision if live else None,
                "vector_size": live.size if live else None,
                "points": await store.count(live.name) if live else 0,
            }

        async def replay(force: bool, drop_old: bool, progress: Progress) -> ReplayReport:
            return await run_replay(
                settings, indexer, samples, force=force, drop_old=drop_old, progress=progress
            )

        app = search_app(search, token=search_token(settings), status=status, replay=replay)
        rt.server = SearchServer(app, settings.embedder_host, settings.embedder_port)
        await rt.server.start()

    async def stop_server() -> None:
        if rt.server is not None:
            await rt.server.stop()

    async def close() -> None:
        if rt.store is not None:
            await rt.store.close()
        for closer in rt.closers:
            closer()
        await redis.aclose()

    return FastStream(
        broker,
        on_startup=[open_runtime],
        after_startup=[start_server],
        on_shutdown=[stop_server],
        after_shutdown=[close],
    )


# -- for other processes ------------------------------------------------------------------------


class _LazyModel:
    """The model loaded on first use, off the event loop (a gateway starts without torch)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._model: SentenceModel | None = None
        self._lock = asyncio.Lock()

    @property
    def info(self) -> ModelInfo:
        if self._model is None:
            msg = "the model is not loaded yet"
            raise RuntimeError(msg)
        return self._model.info

    async def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if self._model is None:
            async with self._lock:
                if self._model is None:
                    try:
                        self._model = await asyncio.to_thread(load_model, self._settings)
                    except ModelUnavailable as exc:
                        raise KnowledgeUnavailable(str(exc)) from None
        return await self._model.encode(texts)


class _ServerSearch:
    """In-process search against a Qdrant server (``IXO_QDRANT_URL``)."""

    def __init__(self, settings: Settings) -> None:
        self._redis = redis_client(settings)
        self._store = open_store(settings)
        self._search = LocalKnowledgeSearch(
            _LazyModel(settings),
            self._store,
            samples_for(settings, self._redis),
            collection=self._store.alias,
        )

    async def search(
        self, query: str, *, k: int = 10, filters: SearchFilters | None = None
    ) -> list[KnowledgeHit]:
        return await self._search.search(query, k=k, filters=filters)

    async def close(self) -> None:
        await self._store.close()
        await self._redis.aclose()


def embedder_url(settings: Settings) -> str:
    return f"http://{settings.embedder_host}:{settings.embedder_port}"


def open_knowledge_search(settings: Settings) -> KnowledgeSearch:
    """How a process that is not the embedder searches: directly on the Qdrant server when
    ``IXO_QDRANT_URL`` is set (the model loads on the first query), else through the
    embedder's authenticated loopback server (:class:`KnowledgeUnavailable` while it is down).
    Opening contacts nothing."""
    if settings.qdrant_url:
        return _ServerSearch(settings)
    return HttpKnowledgeSearch(
        embedder_url(settings), search_token(settings), timeout_s=settings.embedder_timeout_s
    )


async def replay_knowledge(
    settings: Settings, *, force: bool = False, drop_old: bool = False, progress: Progress
) -> dict[str, Any]:
    """``ixo replay knowledge``: through the running embedder when it owns a local store (its
    server streams the progress), else in this process (a local store nobody holds, or a
    Qdrant server). Raises :class:`ReplayFailed`, :class:`StoreUnavailable` or
    :class:`ModelUnavailable` with a one-line reason."""
    if not settings.qdrant_url:
        client = HttpKnowledgeSearch(embedder_url(settings), search_token(settings))
        try:
            try:
                await client.status()
            except KnowledgeUnavailable as exc:
                if "refused our token" in str(exc):
                    raise StoreUnavailable(str(exc)) from None
                log.info("the embedder is not running: replaying in this process")
            else:
                return await client.replay(force=force, drop_old=drop_old, progress=progress)
        finally:
            await client.close()
    model = await asyncio.to_thread(load_model, settings)
    store = open_store(settings)
    redis = redis_client(settings)
    try:
        indexer = make_indexer(model, store, settings, sink=None)
        report = await run_replay(
            settings,
            indexer,
            samples_for(settings, redis),
            force=force,
            drop_old=drop_old,
            progress=progress,
        )
        return report.as_dict()
    finally:
        await store.close()
        model.close()
        await redis.aclose()
