"""The embedder end to end on real Kafka, Redis, a local Qdrant store and the real MiniLM:
documents and posts become searchable, found by a paraphrase; redelivery and edits leave no
duplicate or stale chunk; poison records go to the DLQ; the search server wants its bearer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from consumers.embedder import SearchFilters
from consumers.embedder.app import GROUP, build_app, open_knowledge_search, search_token
from infra.kafka import EventPublisher, make_broker
from infra.settings import Settings
from schemas import (
    RAG_DOCUMENTS,
    SOCIAL_POSTS,
    CloudEvent,
    RagDocumentSubmittedV1,
    SocialPostScrapedV1,
)
from tests._kafka import eventually, group_caught_up, headers_of, publish, read_topic, running
from tests.integration._embedder import embedder_settings, indexed_events, minilm

DOCS = {
    "doc-halving": (
        "The Bitcoin halving cuts the block subsidy that miners receive in half. It happens"
        " every 210,000 blocks, roughly once every four years, and slows the issuance of new"
        " coins until the supply cap of 21 million is reached."
    ),
    "doc-staking": (
        "Ethereum staking: validators lock 32 ETH as collateral to propose and attest to"
        " blocks. Honest validators earn rewards; misbehaving ones are slashed and lose part"
        " of their stake."
    ),
    "doc-stablecoins": (
        "Stablecoins such as USDC keep a one dollar price because every token is backed by"
        " cash and short-term US treasury bills held in reserve and attested monthly."
    ),
}


def submitted(
    doc_id: str, text: str, *, owner: str = "alice"
) -> CloudEvent[RagDocumentSubmittedV1]:
    return CloudEvent.new(
        RagDocumentSubmittedV1(
            doc_id=doc_id, text=text, source=f"{doc_id}.md", owner=owner, title=doc_id
        ),
        source="/tests",
    )


def post(post_id: str, text: str, symbols: tuple[str, ...] = ()) -> CloudEvent[SocialPostScrapedV1]:
    return CloudEvent.new(
        SocialPostScrapedV1(
            post_id=post_id,
            author="trader",
            text=text,
            created_at=datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
            url=f"https://x.com/trader/status/{post_id}",
            symbols=symbols,
        ),
        source="/tests",
    )


@pytest.fixture
def esettings(settings: Settings, tmp_path: Path, topics: None) -> Settings:
    return embedder_settings(settings, tmp_path)


@pytest.fixture
async def embedder(esettings: Settings) -> AsyncIterator[Settings]:
    async with running(build_app(esettings, model=minilm())):
        yield esettings


async def status(settings: Settings) -> dict[str, object]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.embedder_port}",
        headers={"authorization": f"Bearer {search_token(settings)}"},
    ) as client:
        response = await client.get("/v1/status")
        assert response.status_code == 200
        result: dict[str, object] = response.json()
        return result


async def caught_up(settings: Settings) -> bool:
    return await group_caught_up(settings, SOCIAL_POSTS, GROUP) and await group_caught_up(
        settings, RAG_DOCUMENTS, GROUP
    )


async def test_a_paraphrase_finds_the_right_document(embedder: Settings) -> None:
    await publish(embedder, *(submitted(d, t) for d, t in DOCS.items()))
    await publish(embedder, post("9001", "$BTC breaking out above the range high", ("BTCUSDT",)))

    async def all_indexed() -> list[dict[str, object]]:
        found = await indexed_events(embedder)
        return found if len(found) == len(DOCS) else []

    indexed = await eventually(all_indexed, timeout=60)
    for event in indexed:
        data = event["data"]
        assert data["chunks"] == 1
        assert data["model"] == "all-minilm-l6-v2"
        assert data["vector_size"] == 384
        assert str(data["collection"]).startswith(f"{embedder.topic_prefix}knowledge__")
        assert data["model_revision"]
    await eventually(lambda: caught_up(embedder), timeout=30)

    search = open_knowledge_search(embedder)
    try:
        hits = await search.search("how often does the reward paid to miners get cut by 50%?")
        assert hits[0].doc_id == "doc-halving"
        assert hits[0].source == "document"
        assert hits[0].owner == "alice"
        hits = await search.search("what backs a dollar-pegged token?", k=3)
        assert hits[0].doc_id == "doc-stablecoins"
        # Filters: posts only, by symbol; another user's documents are not visible.
        hits = await search.search("bitcoin", filters=SearchFilters(source="post"))
        assert [h.doc_id for h in hits] == ["post-9001"]
        assert hits[0].url == "https://x.com/trader/status/9001"
        hits = await search.search("bitcoin", filters=SearchFilters(symbol="BTCUSDT"))
        assert {h.doc_id for h in hits} == {"post-9001"}
        hits = await search.search("bitcoin halving", filters=SearchFilters(owner="bob"))
        assert {h.source for h in hits} == {"post"}
        hits = await search.search(
            "bitcoin", filters=SearchFilters(since=datetime(2027, 1, 1, tzinfo=UTC))
        )
        assert [h for h in hits if h.source == "post"] == []
    finally:
        await search.close()


async def test_redelivery_and_edits_leave_no_duplicate_or_stale_chunk(
    esettings: Settings,
) -> None:
    long_v1 = "\n\n".join(
        f"Section {n}. Liquidity on decentralised exchanges depends on pool depth number {n}. " * 12
        for n in range(4)
    )
    long_v2 = "A short replacement: the report was withdrawn."
    async with running(build_app(esettings, model=minilm())):
        await publish(esettings, submitted("doc-long", long_v1), post("1", "gm $ETH"))
        first = await eventually(lambda: indexed_events(esettings), timeout=60)
        chunks_v1 = first[0]["data"]["chunks"]
        assert chunks_v1 > 3
        await eventually(lambda: caught_up(esettings), timeout=30)
        assert (await status(esettings))["points"] == chunks_v1 + 1

    # Redelivery: the same records again (the group rewound) change nothing.
    from tests._kafka import rewind

    await rewind(esettings, RAG_DOCUMENTS, GROUP)
    await rewind(esettings, SOCIAL_POSTS, GROUP)
    async with running(build_app(esettings, model=minilm())):
        await eventually(lambda: caught_up(esettings), timeout=60)
        assert (await status(esettings))["points"] == chunks_v1 + 1

        # An edit: the new version replaces every chunk of the old one.
        await publish(esettings, submitted("doc-long", long_v2))

        async def edited() -> bool:
            found = await indexed_events(esettings)
            return any(e["data"]["chunks"] == 1 for e in found)

        await eventually(edited, timeout=60)
        await eventually(lambda: caught_up(esettings), timeout=30)
        assert (await status(esettings))["points"] == 2
        search = open_knowledge_search(esettings)
        try:
            hits = await search.search("liquidity depends on pool depth", k=10)
            assert all("pool depth" not in h.text for h in hits)
            assert any(h.doc_id == "doc-long" and h.text == long_v2 for h in hits)
        finally:
            await search.close()


async def test_poison_records_go_to_the_dlq_and_the_rest_is_indexed(
    settings: Settings, tmp_path: Path, topics: None
) -> None:
    esettings = embedder_settings(settings, tmp_path, embed_max_chunks=2)
    huge = " ".join(f"Paragraph {n} about token unlock schedules and vesting." for n in range(400))
    async with running(build_app(esettings, model=minilm())):
        broker = make_broker(esettings, client_id="ixo-test-raw")
        await broker.connect()
        try:
            publisher = EventPublisher(broker, esettings)
            await (
                await publisher.send_raw(
                    SOCIAL_POSTS.full_name(esettings.topic_prefix),
                    b"{not json",
                    key="p-bad",
                    headers={},
                )
            )
        finally:
            await broker.stop()
        await publish(
            esettings, submitted("doc-huge", huge), submitted("doc-ok", DOCS["doc-staking"])
        )

        async def ok_indexed() -> bool:
            return any(e["data"]["doc_id"] == "doc-ok" for e in await indexed_events(esettings))

        await eventually(ok_indexed, timeout=90)

        async def dead(topic_dlq: object) -> list[dict[str, str]]:
            return [headers_of(r) for r in await read_topic(esettings, topic_dlq)]  # type: ignore[arg-type]

        posts_dlq = await eventually(lambda: dead(SOCIAL_POSTS.dlq), timeout=30)
        assert posts_dlq[0]["x-error-type"] != "permanent_error"
        docs_dlq = await eventually(lambda: dead(RAG_DOCUMENTS.dlq), timeout=30)
        assert docs_dlq[0]["x-error-type"] == "permanent_error"
        assert "IXO_EMBED_MAX_CHUNKS" in docs_dlq[0]["x-error"]
        assert all(e["data"]["doc_id"] != "doc-huge" for e in await indexed_events(esettings))


async def test_the_search_server_wants_its_bearer(embedder: Settings) -> None:
    base = f"http://127.0.0.1:{embedder.embedder_port}"
    body = {"query": "bitcoin"}
    async with httpx.AsyncClient(base_url=base) as client:
        missing = await client.post("/v1/search", json=body)
        wrong = await client.post(
            "/v1/search", json=body, headers={"authorization": "Bearer " + "0" * 64}
        )
        replay = await client.post("/v1/replay", json={})
        right = await client.post(
            "/v1/search",
            json=body,
            headers={"authorization": f"Bearer {search_token(embedder)}"},
        )
    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert replay.status_code == 401
    assert search_token(embedder) not in wrong.text
    assert right.status_code == 200
    assert right.json() == {"hits": []}
