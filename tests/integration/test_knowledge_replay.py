"""``ixo replay knowledge``: a new collection from the topics, checked, swapped in while
queries keep answering; replaying twice changes nothing; a model change is refused until a
replay built a collection with the new model."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumers.embedder.app import (
    GROUP,
    ModelMismatch,
    build_app,
    open_knowledge_search,
    replay_knowledge,
    search_token,
)
from infra.settings import Settings
from schemas import (
    RAG_DOCUMENTS,
    SOCIAL_POSTS,
    CloudEvent,
    RagDocumentSubmittedV1,
    SocialPostScrapedV1,
)
from tests._cli import ixo
from tests._kafka import eventually, group_caught_up, publish, running
from tests.integration._embedder import build_tiny_model, embedder_settings, minilm

TOPICS = (
    "bitcoin halving and miner rewards",
    "ethereum staking and validator slashing",
    "stablecoin reserves and attestations",
    "solana outages and validator clients",
    "liquidity pools and impermanent loss",
    "funding rates on perpetual futures",
    "layer two rollups and fraud proofs",
    "token unlocks and vesting schedules",
)
QUERIES = (
    "why do miners earn less after the halving",
    "what happens to a validator that misbehaves",
    "are stablecoins fully backed",
    "network downtime on solana",
    "losing value as a liquidity provider",
    "what are perp funding payments",
    "how do optimistic rollups prove fraud",
    "when do team tokens unlock",
)


def corpus() -> list[CloudEvent[Any]]:
    events: list[CloudEvent[Any]] = []
    for n, topic in enumerate(TOPICS):
        text = "\n\n".join(
            f"Part {p} of a note on {topic}. It explains {topic} with example {p} and what"
            f" traders should watch when {topic} changes."
            for p in range(6)
        )
        events.append(
            CloudEvent.new(
                RagDocumentSubmittedV1(
                    doc_id=f"doc-{n}", text=text, source=f"note-{n}.md", owner="alice"
                ),
                source="/tests",
            )
        )
        events.append(
            CloudEvent.new(
                SocialPostScrapedV1(
                    post_id=str(100 + n),
                    author="desk",
                    text=f"Thread: {topic}, what it means for the market this week.",
                    created_at=datetime(2026, 1, 5, tzinfo=UTC),
                    url=f"https://x.com/desk/status/{100 + n}",
                ),
                source="/tests",
            )
        )
    return events


async def caught_up(settings: Settings) -> bool:
    return await group_caught_up(settings, SOCIAL_POSTS, GROUP) and await group_caught_up(
        settings, RAG_DOCUMENTS, GROUP
    )


async def status(settings: Settings) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.embedder_port}",
        headers={"authorization": f"Bearer {search_token(settings)}"},
    ) as client:
        response = await client.get("/v1/status")
        assert response.status_code == 200
        result: dict[str, Any] = response.json()
        return result


def no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


@pytest.fixture
def esettings(settings: Settings, tmp_path: Path, topics: None) -> Settings:
    return embedder_settings(settings, tmp_path)


async def test_replay_twice_swaps_without_a_failed_query(esettings: Settings) -> None:
    await publish(esettings, *corpus())
    async with running(build_app(esettings, model=minilm())):
        await eventually(lambda: caught_up(esettings), timeout=90)
        before = await status(esettings)
        assert before["points"] > len(TOPICS) * 2
        search = open_knowledge_search(esettings)
        try:
            for query in QUERIES:  # the stored sample the recall check uses
                assert await search.search(query)

            failures: list[str] = []
            answered = 0
            stop = asyncio.Event()

            async def query_loop() -> None:
                nonlocal answered
                n = 0
                while not stop.is_set():
                    try:
                        hits = await search.search(QUERIES[n % len(QUERIES)], k=5)
                    except Exception as exc:
                        failures.append(f"{type(exc).__name__}: {exc}")
                    else:
                        if not hits:
                            failures.append("empty result")
                        answered += 1
                    n += 1

            phases: list[str] = []

            def progress(phase: str, _done: int, _total: int) -> None:
                if not phases or phases[-1] != phase:
                    phases.append(phase)

            loop = asyncio.create_task(query_loop())
            try:
                first = await replay_knowledge(esettings, progress=progress)
                second = await replay_knowledge(esettings, progress=no_progress)
            finally:
                stop.set()
                await loop
        finally:
            await search.close()
        after = await status(esettings)

    assert failures == []
    assert answered > 0
    assert phases[:3] == ["read", "index", "check"]
    for report in (first, second):
        assert report["swapped"] is True
        assert report["points"] == before["points"]
        assert report["queries"] == len(QUERIES)
        assert report["recall"] >= 0.9
    assert first["previous"] == before["collection"]
    assert second["previous"] == first["collection"]
    assert second["dropped"] == [before["collection"]]
    assert after["collection"] == second["collection"]
    assert after["points"] == before["points"]


async def test_a_model_change_is_refused_until_the_replay(
    esettings: Settings, settings_env: dict[str, str], tmp_path: Path
) -> None:
    await publish(esettings, *corpus())
    async with running(build_app(esettings, model=minilm())):
        await eventually(lambda: caught_up(esettings), timeout=90)
        old = await status(esettings)

    tiny_dir = await asyncio.to_thread(build_tiny_model, tmp_path / "models")
    tiny = esettings.model_copy(update={"embed_model": str(tiny_dir)})

    # The app refuses to start; so does `ixo run embedder`, in one line that says what to do.
    with pytest.raises(ModelMismatch, match="ixo replay knowledge"):
        async with running(build_app(tiny), ready=False):
            pass
    env = {
        **settings_env,
        "IXO_QDRANT_PATH": str(tiny.qdrant_location),
        "IXO_EMBED_MODEL": str(tiny_dir),
        "IXO_EMBEDDER_PORT": str(tiny.embedder_port),
    }
    refused = await asyncio.to_thread(ixo, env, "run", "embedder", timeout=180)
    assert refused.returncode == 1
    assert "run `ixo replay knowledge`" in refused.stderr
    assert "Traceback" not in refused.stderr

    # The replay (the embedder is not running: the CLI opens the store) builds a collection for
    # the new model and swaps the alias; then the embedder starts and searches with it.
    replayed = await asyncio.to_thread(ixo, env, "replay", "knowledge", "--json", timeout=300)
    assert replayed.returncode == 0, replayed.stderr
    report = json.loads(replayed.stdout)
    assert report["model"] == "tiny-bert-test"
    assert report["recall"] is None  # another model: no recall check against the old one
    assert report["previous"] == old["collection"]
    assert report["swapped"] is True
    async with running(build_app(tiny)):
        now = await status(tiny)
        assert now["collection"] == report["collection"]
        assert now["model"] == "tiny-bert-test"
        assert now["vector_size"] == 32
        assert now["points"] == report["points"] > 0
        search = open_knowledge_search(tiny)
        try:
            assert await search.search("validator slashing")
        finally:
            await search.close()
