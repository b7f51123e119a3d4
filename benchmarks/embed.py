"""The embedder's throughput, latency and search speed, beside a bare ``model.encode``.

    python -m benchmarks.embed [--posts N] [--docs N] [--rate N] [--latency-s S] [--points N]

Ours: the embedder app (``consumers.embedder.app.build_app``, the real MiniLM, a local Qdrant
store in a temporary folder) consuming ``--posts`` posts and ``--docs`` multi-page documents
published at once after its group joined; the clock runs from the publish until every planned
chunk is a point (the app's status endpoint). That is the whole path: Kafka batch consume,
decode, chunk, embed, upsert, stale-chunk delete, ``indexed`` events, commit.
Baseline: ``model.encode`` (same batch size) over exactly the same chunk texts in this process.

Also: chunks/s per CPU core; the ONNX Runtime backend when installed (else why not);
Kafka-to-searchable latency p50/p95 at a steady ``--rate`` of posts per second; search latency
p50/p99 at ``--points`` points (random unit vectors; queries embedded by the real model).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from qdrant_client import QdrantClient

from benchmarks._stack import bench_settings, result_line, wait_assigned
from consumers.embedder import Indexer, Item, item_of
from consumers.embedder._model import SentenceModel
from consumers.embedder._qdrant import QdrantStore
from consumers.embedder._types import Point, SearchFilters
from consumers.embedder.app import build_app, make_chunker, search_token
from infra.kafka import EventPublisher, ensure_topics, make_broker
from infra.runtime import tune_gc
from infra.settings import Settings
from infra.stack.standins import free_port
from schemas import CloudEvent, RagDocumentSubmittedV1, SocialPostScrapedV1

WORDS = (
    *("bitcoin", "ether", "funding", "rate", "liquidity", "validator", "staking", "halving"),
    *("miners", "reserve", "treasury", "rollup", "bridge", "exploit", "audit", "volatility"),
    *("breakout", "support", "resistance", "whale", "exchange", "inflow", "outflow"),
    *("governance", "proposal", "airdrop", "unlock", "vesting", "yield", "perpetual", "basis"),
)


def sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(WORDS, size=n)).capitalize() + "."


def corpus(posts: int, docs: int) -> list[CloudEvent[Any]]:
    rng = np.random.default_rng(7)
    events: list[CloudEvent[Any]] = []
    for n in range(posts):
        events.append(
            CloudEvent.new(
                SocialPostScrapedV1(
                    post_id=f"b{n}",
                    author="bench",
                    text=" ".join(sentence(rng, 12) for _ in range(2)) + " $BTC",
                    created_at=datetime.now(UTC),
                    url=f"https://x.com/bench/status/{n}",
                    symbols=("BTCUSDT",),
                ),
                source="/benchmarks",
            )
        )
    for n in range(docs):
        text = "\n\n".join(" ".join(sentence(rng, 14) for _ in range(5)) for _ in range(30))
        events.append(
            CloudEvent.new(
                RagDocumentSubmittedV1(doc_id=f"bd{n}", text=text, source=f"bench-{n}.md"),
                source="/benchmarks",
            )
        )
    return events


def planned_texts(indexer: Indexer, events: Sequence[CloudEvent[Any]]) -> list[str]:
    items: list[Item] = [i for i in (item_of(e) for e in events) if i is not None]
    return [t for doc in indexer.plan(items) for t in doc.texts]


async def status(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/v1/status")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def wait_points(client: httpx.AsyncClient, target: int, timeout: float = 900) -> float:
    deadline = time.perf_counter() + timeout
    while (await status(client))["points"] < target:
        if time.perf_counter() > deadline:
            msg = f"fewer than {target} points after {timeout}s"
            raise RuntimeError(msg)
        await asyncio.sleep(0.2)
    return time.perf_counter()


async def throughput(
    settings: Settings, model: SentenceModel, args: argparse.Namespace
) -> tuple[float, float, int]:
    """(ours chunks/s, baseline chunks/s, chunks)."""
    events = corpus(args.posts, args.docs)
    store = QdrantStore(QdrantClient(location=":memory:"), local=True)
    indexer = Indexer(model, store, make_chunker(model, settings))
    texts = planned_texts(indexer, events)
    await store.close()
    broker = make_broker(settings, client_id="ixo-bench-embed")
    await broker.connect()
    publisher = EventPublisher(broker, settings)
    try:
        app = build_app(settings, model=model)
        await app.start()
        async with (
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{settings.embedder_port}",
                headers={"authorization": f"Bearer {search_token(settings)}"},
                timeout=30,
            ) as client,
        ):
            await wait_assigned(app)
            base = (await status(client))["points"]
            start = time.perf_counter()
            await publisher.publish_many(events)
            end = await wait_points(client, base + len(texts))
            ours = len(texts) / (end - start)
            await latency(settings, publisher, client, args)
        await app.stop()
    finally:
        await broker.stop()
    model.encode_now(texts[:64])  # warm
    start = time.perf_counter()
    model.encode_now(texts)
    baseline = len(texts) / (time.perf_counter() - start)
    return ours, baseline, len(texts)


async def latency(
    settings: Settings,
    publisher: EventPublisher,
    client: httpx.AsyncClient,
    args: argparse.Namespace,
) -> None:
    """Posts at a steady rate; each one's time from publish until it is a point of the live
    collection (a search sees a point as soon as its upsert returned: same process, same store).
    The status endpoint is polled every 20 ms; the k-th new point is matched to the k-th post."""
    if args.latency_s <= 0:
        return
    rng = np.random.default_rng(11)
    total = int(args.rate * args.latency_s)
    base = int((await status(client))["points"])
    published: list[float] = []
    landed: list[float] = []

    async def produce() -> None:
        interval = 1.0 / args.rate
        t0 = time.perf_counter()
        for n in range(total):
            await asyncio.sleep(max(0.0, t0 + n * interval - time.perf_counter()))
            event = CloudEvent.new(
                SocialPostScrapedV1(
                    post_id=f"lat{n}",
                    author="bench",
                    text=f"Latency probe {n}: " + sentence(rng, 10),
                    created_at=datetime.now(UTC),
                    url=f"https://x.com/bench/status/lat{n}",
                ),
                source="/benchmarks",
            )
            published.append(time.perf_counter())
            await publisher.send(event)

    async def watch() -> None:
        while len(landed) < total:
            count = int((await status(client))["points"]) - base
            now = time.perf_counter()
            while len(landed) < min(count, total):
                landed.append(now)
            await asyncio.sleep(0.02)

    await asyncio.gather(produce(), asyncio.wait_for(watch(), timeout=args.latency_s + 300))
    delays = [b - a for a, b in zip(published, landed, strict=True)]
    q = statistics.quantiles(delays, n=100)
    print(
        f"kafka->searchable at {args.rate}/s ({total} posts): p50 {q[49] * 1000:.0f} ms,"
        f" p95 {q[94] * 1000:.0f} ms"
    )
    print(f"RESULT bench=embed-latency-p95 ours={q[94] * 1000:.1f} unit=ms")


async def search_speed(model: SentenceModel, points: int) -> None:
    """p50/p99 of a search at ``points`` points (local mode keeps every vector in memory; the
    store folder only adds persistence, so an in-memory local store measures the same scan)."""
    store = QdrantStore(QdrantClient(location=":memory:"), local=True, alias="knowledge")
    from consumers.embedder._types import ModelInfo

    info: ModelInfo = model.info
    await store.create("knowledge__bench__1", info)
    await store.point_alias("knowledge__bench__1")
    rng = np.random.default_rng(3)
    batch = 2000
    for start in range(0, points, batch):
        n = min(batch, points - start)
        vectors = rng.standard_normal((n, info.size)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        pts = [
            Point(
                str(uuid.uuid4()),
                {
                    "doc_id": f"d{start + i}",
                    "source": "post" if i % 2 else "document",
                    "owner": f"u{i % 50}",
                    "symbols": ["BTCUSDT"],
                    "created_ts": 1.0,
                },
            )
            for i in range(n)
        ]
        await store.upsert("knowledge__bench__1", pts, vectors)
    queries = [f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]} outlook" for i in range(200)]
    encoded = await model.encode(queries)
    for name, filters in (
        ("dense", None),
        ("dense+owner filter", SearchFilters(owner="u7")),
    ):
        times: list[float] = []
        for row in encoded[: 200 if filters is None else 40]:
            t0 = time.perf_counter()
            await store.search("knowledge", row, k=10, filters=filters)
            times.append(time.perf_counter() - t0)
        q = statistics.quantiles(times, n=100)
        print(
            f"search at {points:,} points, {name}: p50 {q[49] * 1000:.1f} ms,"
            f" p99 {q[98] * 1000:.1f} ms"
        )
        label = "dense" if filters is None else "filtered"
        print(f"RESULT bench=embed-search-{label}-p99 ours={q[98] * 1000:.1f} unit=ms")
    t0 = time.perf_counter()
    for query in queries[:50]:
        vector = (await model.encode([query]))[0]
        await store.search("knowledge", vector, k=10, filters=None)
    print(f"query embed + search: {(time.perf_counter() - t0) / 50 * 1000:.1f} ms mean")
    await store.close()


def onnx(model_dir: Path, texts: Sequence[str], torch_rate: float) -> None:
    missing = [m for m in ("onnxruntime", "optimum") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"onnx: not measured: {', '.join(missing)} not installed. sentence-transformers'"
            " backend='onnx' exports through optimum-onnx, whose only release on PyPI (0.1.0)"
            " requires transformers<4.58, while sentence-transformers 6.2 requires"
            " transformers>=5: the two cannot be installed together (decision 0097)"
        )
        return
    from sentence_transformers import SentenceTransformer

    with tempfile.TemporaryDirectory(prefix="ixo-onnx-") as tmp:
        exported = SentenceTransformer(str(model_dir), backend="onnx", device="cpu")
        exported.save(tmp)
        model = SentenceTransformer(tmp, backend="onnx", device="cpu", local_files_only=True)
        model.encode(list(texts[:64]), batch_size=64)
        t0 = time.perf_counter()
        model.encode(list(texts), batch_size=64, normalize_embeddings=True)
        rate = len(texts) / (time.perf_counter() - t0)
    print(f"onnx: {rate:,.0f} chunks/s, {rate / torch_rate:.2f}x the torch encode")
    print(result_line("embed-onnx", rate, torch_rate, "chunks/s"))


async def main(args: argparse.Namespace) -> None:
    tune_gc()
    model = await asyncio.to_thread(SentenceModel.load, "all-minilm-l6-v2", batch_size=64)
    cores = len(os.sched_getaffinity(0))
    with bench_settings("embed") as base, tempfile.TemporaryDirectory(prefix="ixo-embed-") as tmp:
        settings = base.model_copy(
            update={
                "qdrant_path": Path(tmp) / "qdrant",
                "embedder_port": free_port(),
                "state_dir": Path(tmp) / "state",
                "log_level": "WARNING",
            }
        )
        await ensure_topics(settings)
        ours, baseline, chunks = await throughput(settings, model, args)
    print(
        f"{chunks} chunks ({args.posts} posts, {args.docs} documents): embedder {ours:,.1f}"
        f" chunks/s, bare model.encode {baseline:,.1f} chunks/s; per core ({cores}):"
        f" {ours / cores:,.1f} vs {baseline / cores:,.1f}"
    )
    if args.points > 0:
        await search_speed(model, args.points)
    texts = [e.data.text for e in corpus(args.posts, 0)][:512]
    onnx(model.directory, texts, len(texts) / _timed(model, texts))
    print(result_line("embed-per-core", ours / cores, baseline / cores, "chunks/s/core"))
    print(result_line("embed", ours, baseline, "chunks/s"))


def _timed(model: SentenceModel, texts: Sequence[str]) -> float:
    t0 = time.perf_counter()
    model.encode_now(texts)
    return time.perf_counter() - t0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--posts", type=int, default=1500)
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--latency-s", type=float, default=15.0)
    parser.add_argument("--points", type=int, default=100_000)
    asyncio.run(main(parser.parse_args()))
