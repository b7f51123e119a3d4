"""The embedder's pure parts (chunking, plans, point ids, names, filters) and its core on a
real local Qdrant store with a deterministic stand-in encoder (the real model runs in the
integration tests)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from consumers.embedder import (
    Chunker,
    DocumentTooLarge,
    Indexer,
    KnowledgeReplay,
    ModelInfo,
    ModelMismatch,
    ReplayFailed,
    SearchFilters,
    item_of,
    point_id,
)
from consumers.embedder._collections import alias_for, next_name, sequence_of, slug
from consumers.embedder._model import model_dir
from consumers.embedder._plan import latest_items, plan
from consumers.embedder._qdrant import QdrantStore, search_filter
from consumers.embedder._replay import Offsets
from consumers.embedder.app import ensure_live
from schemas import AnyEvent, CloudEvent, RagDocumentSubmittedV1, SocialPostScrapedV1

MODEL = ModelInfo(id="hash-8", revision="0123456789ab", size=8, max_tokens=256)
OTHER = ModelInfo(id="hash-8", revision="ffffffffffff", size=8, max_tokens=256)


class HashEncoder:
    """Same text, same unit vector: enough to test writes, ids and swaps."""

    def __init__(self, info: ModelInfo = MODEL) -> None:
        self.info = info

    async def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        rows = [
            np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], dtype=np.uint8) for t in texts
        ]
        matrix = np.array(rows, dtype=np.float32).reshape(len(texts), 8) + 1.0
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    return Chunker.from_file(
        model_dir("all-minilm-l6-v2") / "tokenizer.json", capacity=64, overlap=16
    )


def doc(doc_id: str, text: str, owner: str = "alice") -> CloudEvent[RagDocumentSubmittedV1]:
    return CloudEvent.new(
        RagDocumentSubmittedV1(doc_id=doc_id, text=text, source=f"{doc_id}.md", owner=owner),
        source="/tests",
    )


def post(post_id: str, text: str) -> CloudEvent[SocialPostScrapedV1]:
    return CloudEvent.new(
        SocialPostScrapedV1(
            post_id=post_id,
            author="a",
            text=text,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            url=f"https://x.com/a/status/{post_id}",
            symbols=("BTCUSDT",),
        ),
        source="/tests",
    )


LONG = "\n\n".join(
    f"Paragraph {n}: funding rates turned negative on venue {n}." * 4 for n in range(6)
)


def test_chunks_fit_the_capacity_and_overlap(chunker: Chunker) -> None:
    chunks = chunker.chunks(LONG)
    assert len(chunks) > 3
    assert all(chunker.tokens(c) <= 64 for c in chunks)
    assert chunker.chunks("  gm  ") == ["gm"]
    assert chunker.chunks(" \n\t ") == []
    words = [set(c.split()) for c in chunks]
    assert any(words[i] & words[i + 1] for i in range(len(words) - 1))


def test_point_ids_depend_on_doc_text_and_model() -> None:
    base = point_id("d", "text", "m")
    assert base == point_id("d", "text", "m")
    assert (
        len(
            {
                base,
                point_id("e", "text", "m"),
                point_id("d", "text2", "m"),
                point_id("d", "text", "n"),
            }
        )
        == 4
    )


def test_plan_dedupes_repeated_chunks_and_refuses_huge_documents(chunker: Chunker) -> None:
    item = item_of(doc("d", "same words here.\n\nsame words here."))
    assert item is not None
    small = Chunker(chunker._tokenizer, capacity=8, overlap=0)
    planned = plan(item, small, "m", max_chunks=10)
    assert len(planned.points) == 1
    big = item_of(doc("big", LONG))
    assert big is not None
    with pytest.raises(DocumentTooLarge, match="IXO_EMBED_MAX_CHUNKS"):
        plan(big, chunker, "m", max_chunks=2)


def test_items_of_posts_and_documents() -> None:
    p = item_of(post("42", "gm $BTC"))
    assert p is not None
    assert (p.doc_id, p.source, p.symbols, p.owner) == ("post-42", "post", ("BTCUSDT",), None)
    v1, v2 = doc("d", "one"), doc("d", "two")
    latest = latest_items([v1, post("1", "x"), v2])
    assert [(i.doc_id, i.text) for i in latest] == [("post-1", "x"), ("d", "two")]


def test_collection_names() -> None:
    alias = alias_for("t1.")
    first = next_name(alias, MODEL, [])
    assert first == "t1.knowledge__hash-8__0123456789ab__1"
    assert sequence_of(alias, first) == 1
    assert sequence_of("knowledge", first) is None
    assert next_name(alias, OTHER, [first, "unrelated"]).endswith("__ffffffffffff__2")
    assert slug("My Model_v2") == "my-model-v2"


def test_search_filter_owner_sees_posts_and_own_documents() -> None:
    assert search_filter(None) is None
    assert search_filter(SearchFilters()) is None
    built = search_filter(SearchFilters(owner="bob", symbol="ETHUSDT", source="document"))
    assert built is not None
    dumped = built.model_dump(exclude_none=True)
    assert len(dumped["must"]) == 3
    assert {c["key"] for c in dumped["must"][2]["should"]} == {"source", "owner"}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[QdrantStore]:
    opened = QdrantStore.open_local(tmp_path / "q", alias="knowledge")
    try:
        yield opened
    finally:
        await opened.close()


async def test_edits_and_empty_versions_leave_no_stale_point(
    store: QdrantStore, chunker: Chunker
) -> None:
    live = await ensure_live(store, MODEL)
    indexer = Indexer(HashEncoder(), store, chunker, upsert_batch=64)
    result = await indexer.handle([doc("d", LONG), post("1", "gm")])
    assert result.points == (await store.count(live.name))
    assert result.points > 3
    again = await indexer.handle([doc("d", LONG), post("1", "gm")])  # redelivery
    assert again.points == result.points == await store.count(live.name)
    await indexer.handle([doc("d", "now short")])
    assert await store.count(live.name) == 2
    await indexer.handle([doc("d", "   ")])
    assert await store.count(live.name) == 1


async def test_writes_refused_into_another_models_collection(
    store: QdrantStore, chunker: Chunker
) -> None:
    await ensure_live(store, MODEL)
    with pytest.raises(ModelMismatch, match="ixo replay knowledge"):
        await ensure_live(store, OTHER)
    with pytest.raises(ModelMismatch):
        await Indexer(HashEncoder(OTHER), store, chunker).handle([post("1", "gm")])


class ListSource:
    def __init__(self, events: list[AnyEvent]) -> None:
        self.events = events

    async def ends(self) -> Offsets:
        return {("t", 0): len(self.events)}

    async def count(self, start: Offsets | None, end: Offsets) -> int:
        return end[("t", 0)] - (start or {}).get(("t", 0), 0)

    async def read(self, start: Offsets | None, end: Offsets) -> AsyncIterator[Sequence[AnyEvent]]:
        yield self.events[(start or {}).get(("t", 0), 0) : end[("t", 0)]]


class Samples:
    def __init__(self, queries: list[str]) -> None:
        self.queries = queries

    async def record(self, query: str) -> None:
        self.queries.append(query)

    async def recent(self, n: int) -> list[str]:
        return self.queries[:n]


async def test_replay_builds_checks_swaps_and_retires(store: QdrantStore, chunker: Chunker) -> None:
    events: list[AnyEvent] = [doc("d", "old text"), post("1", "gm"), doc("d", LONG)]
    first = await ensure_live(store, MODEL)
    indexer = Indexer(HashEncoder(), store, chunker)
    await indexer.handle(events)
    points = await store.count(first.name)
    samples = Samples(["funding rates", "gm"])
    report = await KnowledgeReplay(indexer, ListSource(events), samples, min_recall=0.9).run()
    assert report.swapped
    assert report.points == points
    assert report.recall == 1.0
    assert (await store.live()) is not None
    assert (await store.live()).name == report.collection  # type: ignore[union-attr]
    second = await KnowledgeReplay(indexer, ListSource(events), samples, min_recall=0.9).run()
    assert second.dropped == [first.name]
    assert {c.name for c in await store.collections()} == {report.collection, second.collection}


async def test_replay_with_lost_records_is_refused(store: QdrantStore, chunker: Chunker) -> None:
    events: list[AnyEvent] = [post(str(n), f"post number {n} about markets") for n in range(30)]
    live = await ensure_live(store, MODEL)
    indexer = Indexer(HashEncoder(), store, chunker)
    await indexer.handle(events)
    shrunk = ListSource(events[:3])  # retention dropped most of them
    samples = Samples([f"post number {n} about markets" for n in range(10)])
    with pytest.raises(ReplayFailed, match="recall@10"):
        await KnowledgeReplay(indexer, shrunk, samples, min_recall=0.9).run()
    assert (await store.live()).name == live.name  # type: ignore[union-attr]
    assert [c.name for c in await store.collections()] == [live.name]
    forced = await KnowledgeReplay(indexer, shrunk, samples, min_recall=0.9, force=True).run()
    assert forced.swapped
    assert forced.recall is not None
    assert forced.recall < 0.9


async def test_local_post_filter_agrees_with_the_engine_filter(
    store: QdrantStore, chunker: Chunker
) -> None:
    await ensure_live(store, MODEL)
    indexer = Indexer(HashEncoder(), store, chunker)
    events: list[AnyEvent] = [post(str(n), f"post {n}") for n in range(5)]
    events += [doc(f"a{n}", f"alice doc {n}") for n in range(5)]
    events += [doc(f"b{n}", f"bob doc {n}", owner="bob") for n in range(5)]
    await indexer.handle(events)
    vector = (await HashEncoder().encode(["bob doc 1"]))[0]
    for filters in (
        SearchFilters(owner="bob"),
        SearchFilters(source="document"),
        SearchFilters(symbol="BTCUSDT"),
        SearchFilters(since=datetime(2027, 1, 1, tzinfo=UTC)),
    ):
        fast = await store.search("knowledge", vector, k=4, filters=filters)
        store.local = False  # the engine's own filter (as on a server)
        try:
            exact = await store.search("knowledge", vector, k=4, filters=filters)
        finally:
            store.local = True
        assert [pid for pid, _, _ in fast] == [pid for pid, _, _ in exact]
    owned = await store.search("knowledge", vector, k=15, filters=SearchFilters(owner="bob"))
    assert {p["source"] for _, _, p in owned} == {"post", "document"}
    assert {p["owner"] for _, _, p in owned if p["source"] == "document"} == {"bob"}
