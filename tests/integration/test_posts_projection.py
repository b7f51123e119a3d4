"""The ``posts`` projection on real Kafka and FerretDB: scraped posts published to
``ixo.social.posts`` are folded into the read model (a re-scrape updates its post), listed
newest first by symbol, words and time through the service layer, read by the agent's
``recent_posts`` tool over the orchestrator's port, and listed by ``ixo posts --json``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from agent import TOOLS, MemoryToolResultCache, Ports, ToolContext, ToolRequest
from consumers.orchestrator.app import ServiceKnowledge
from consumers.projector.app import build_app
from infra.kafka import EventPublisher
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from readmodels import READ_MODELS, Post
from schemas import SOCIAL_POSTS, CloudEvent, InvalidEvent, SocialPostScrapedV1
from services import Services
from tests._cli import aixo
from tests._kafka import eventually, running

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)


def post(
    post_id: str,
    text: str,
    *,
    minutes: int,
    symbols: tuple[str, ...] = (),
    likes: int = 0,
) -> SocialPostScrapedV1:
    return SocialPostScrapedV1(
        post_id=post_id,
        author=f"@{post_id}-author",
        text=text,
        created_at=T0 + timedelta(minutes=minutes),
        url=f"https://x.com/i/status/{post_id}",
        metrics={"like_count": likes},
        symbols=symbols,
    )


POSTS = [
    post("p1", "$BTC breaks out (again) above the range", minutes=0, symbols=("BTCUSDT",)),
    post("p2", "Halving math: $BTC issuance drops", minutes=10, symbols=("BTCUSDT",)),
    post("p3", "$ETH gas is cheap today", minutes=20, symbols=("ETHUSDT",)),
    post("p4", "Nobody talks about btc fees any more", minutes=30),
]


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client = mongo_client(settings)
    yield await open_database(settings, client, documents=READ_MODELS)
    await client.drop_database(settings.mongodb_database)
    await client.close()


@pytest.fixture
async def projected(
    settings: Settings, publisher: EventPublisher, db: AsyncDatabase[dict[str, Any]]
) -> Services:
    """The four posts, and a re-scrape of p1 with more likes, published and projected; the
    service layer over the test's database."""
    services = Services.build(publisher, db, settings, source="/tests")
    async with running(build_app(settings, names=["posts"])):
        for data in [*POSTS, post("p1", POSTS[0].text, minutes=0, symbols=("BTCUSDT",), likes=9)]:
            await publisher.publish(CloudEvent.new(data, source="/tests"), SOCIAL_POSTS)

        async def all_in() -> bool:
            found = await services.knowledge.posts(limit=10)
            return len(found) == len(POSTS) and found[-1].metrics == {"like_count": 9}

        await eventually(all_in)
    return services


def ids(posts: list[Post]) -> list[str]:
    return [p.post_id for p in posts]


async def test_posts_are_listed_newest_first_by_symbol_words_and_time(
    projected: Services,
) -> None:
    svc = projected.knowledge
    everything = await svc.posts()
    assert ids(everything) == ["p4", "p3", "p2", "p1"]
    p1 = everything[-1]
    assert p1.metrics == {"like_count": 9}  # the re-scrape, the later record, won
    assert (p1.author, p1.url, p1.symbols) == (
        "@p1-author",
        "https://x.com/i/status/p1",
        ["BTCUSDT"],
    )
    assert p1.created_at == T0

    assert ids(await svc.posts(symbol="btc")) == ["p2", "p1"]
    assert ids(await svc.posts(symbol="BTCUSDT", since=T0 + timedelta(minutes=5))) == ["p2"]
    assert ids(await svc.posts(text="HALVING")) == ["p2"]
    assert ids(await svc.posts(text="(again)")) == ["p1"]  # regex characters match literally
    assert ids(await svc.posts(text="a.b")) == []
    assert ids(await svc.posts(limit=2)) == ["p4", "p3"]

    # symbol_or_query: a cashtag is the symbol only; a word that reads as a symbol finds the
    # tagged posts and the ones that only mention it; several words are words.
    assert ids(await svc.recent_posts("$ETH")) == ["p3"]
    assert ids(await svc.recent_posts("btc")) == ["p4", "p2", "p1"]
    assert ids(await svc.recent_posts("gas is cheap")) == ["p3"]
    assert ids(await svc.recent_posts("btc", since=T0 + timedelta(minutes=15))) == ["p4"]


async def test_bad_listing_input_names_the_field(projected: Services) -> None:
    with pytest.raises(InvalidEvent) as caught:
        await projected.knowledge.posts(symbol="not a symbol!")
    assert caught.value.field == "symbol"
    with pytest.raises(InvalidEvent) as caught:
        await projected.knowledge.posts(limit=0)
    assert caught.value.field == "limit"
    with pytest.raises(InvalidEvent) as caught:
        await projected.knowledge.recent_posts("$$$")
    assert caught.value.field == "symbol_or_query"


async def test_the_agents_recent_posts_tool_reads_the_projection(projected: Services) -> None:
    ports = Ports(extras={"knowledge": ServiceKnowledge(projected.knowledge)})
    ctx = ToolContext(
        request_id="r1", session_id="s1", user_id="alice", channel="web", call_index=0, ports=ports
    )
    call = await TOOLS.execute(
        ToolRequest(
            index=0,
            call_id="c0",
            name="recent_posts",
            arguments=json.dumps({"symbol_or_query": "BTC", "limit": 2}),
        ),
        ctx,
        MemoryToolResultCache(),
        idempotency_ttl_s=60,
    )
    assert call.error is None
    assert call.result["count"] == 2
    assert [p["citation"] for p in call.result["posts"]] == [
        "https://x.com/i/status/p4",
        "https://x.com/i/status/p2",
    ]


async def test_the_indexes_survive_a_second_start(
    settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    """Every projector start creates the indexes again (FerretDB 1.24 dropped the connection on
    some shapes: decision 0133)."""
    client = mongo_client(settings)
    try:
        again = await open_database(settings, client, documents=READ_MODELS)
        names = [ix["key"] async for ix in await again[Post.collection()].list_indexes()]
    finally:
        await client.close()
    assert {"symbols": 1, "created_at": -1} in [dict(k) for k in names]


async def test_ixo_posts_lists_them(projected: Services, settings_env: dict[str, str]) -> None:
    run = await aixo(settings_env, "posts", "--symbol", "BTC", "--json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [r["post_id"] for r in rows] == ["p2", "p1"]
    assert rows[0]["url"] == "https://x.com/i/status/p2"
    assert rows[0]["created_at"] == "2026-11-24T12:10:00Z"

    table = await aixo(settings_env, "posts", "--since", "2026-11-24T12:25:00Z")
    assert table.returncode == 0, table.stderr
    assert "p4-author" in table.stdout
    assert "p1-author" not in table.stdout

    bad = await aixo(settings_env, "posts", "--limit", "0")
    assert bad.returncode == 2
    assert "limit" in bad.stderr
