"""``GET /v1/search`` and ``GET /v1/posts`` on a real gateway, Kafka and FerretDB. The knowledge
store is an in-memory implementation of our own ``KnowledgeSearch`` port (word overlap; the
embedder's Qdrant store is tested with its own suite), so the test can assert on what reached
the port: the caller's id as the owner filter, and every other filter.

A user sees posts and their own documents, never another user's (even from an adapter that
forgot the filter); no token is 401; a bad parameter is 422 naming it, and the port is not
asked; no store, or a store down, is 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from consumers.projector.app import build_app
from infra.kafka import EventPublisher
from infra.settings import Settings
from infra.stack.standins import LocalServer
from producers.gateway import create_app
from schemas import SOCIAL_POSTS, CloudEvent, SocialPostScrapedV1
from services import KnowledgeHit
from tests._cli import aixo
from tests._kafka import eventually, running
from tests.fakes import WordOverlapKnowledge
from tests.integration.conftest import UserToken, bearer

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)
PASSAGES = [
    KnowledgeHit(
        doc_id="post-9001",
        chunk=0,
        text="$BTC halving cuts the block reward in half",
        score=0,
        source="post",
        url="https://x.com/i/status/9001",
        symbols=("BTCUSDT",),
        created_at=T0,
    ),
    KnowledgeHit(
        doc_id="doc-alice",
        chunk=2,
        text="My notes on the halving: the block reward drops every four years",
        score=0,
        source="document",
        url="notes/halving.md",
        title="halving.md",
        symbols=("BTCUSDT",),
        created_at=T0 + timedelta(hours=1),
        owner="alice",
    ),
    KnowledgeHit(
        doc_id="doc-bob",
        chunk=0,
        text="Bob's private halving plan: sell the block reward news",
        score=0,
        source="document",
        url="bob/plan.md",
        created_at=T0 + timedelta(hours=2),
        owner="bob",
    ),
]


@pytest.fixture
def store() -> WordOverlapKnowledge:
    return WordOverlapKnowledge(passages=list(PASSAGES))


@pytest.fixture
async def api(
    settings: Settings, topics: None, store: WordOverlapKnowledge
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with the knowledge store, and the projector, as `ixo up` runs them."""
    async with (
        LocalServer(create_app(settings, knowledge=store), lifespan="on", name="gw") as server,
        running(build_app(settings)),
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        yield client


async def test_a_user_finds_posts_and_their_own_documents_only(
    api: httpx.AsyncClient, store: WordOverlapKnowledge, user_token: UserToken
) -> None:
    alice = bearer(await user_token("alice"))
    response = await api.get("/v1/search", params={"q": "halving block reward"}, headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == "halving block reward"
    assert [(h["doc_id"], h["citation"]) for h in body["hits"]] == [
        ("doc-alice", "doc-alice chunk 2"),
        ("post-9001", "https://x.com/i/status/9001"),
    ]
    assert body["count"] == 2
    assert all("owner" not in h for h in body["hits"])
    assert store.asked[-1].filters.owner == "alice"  # the filter reached the port

    # An adapter that forgets the owner filter still shows nobody bob's document.
    store.ignore_owner = True
    again = await api.get("/v1/search", params={"q": "halving block reward"}, headers=alice)
    assert [h["doc_id"] for h in again.json()["hits"]] == ["doc-alice", "post-9001"]
    assert "doc-bob" in {h.doc_id for h in await store.search("halving block reward")}

    bob = bearer(await user_token("bob"))
    theirs = await api.get("/v1/search", params={"q": "halving plan"}, headers=bob)
    assert "doc-alice" not in {h["doc_id"] for h in theirs.json()["hits"]}
    assert store.asked[-1].filters.owner == "bob"


async def test_every_filter_reaches_the_port(
    api: httpx.AsyncClient, store: WordOverlapKnowledge, user_token: UserToken
) -> None:
    alice = bearer(await user_token("alice"))
    params = {
        "q": "  halving   reward ",
        "k": "3",
        "source": "document",
        "symbol": "btc",
        "since": "2026-11-24T12:30:00+00:00",
    }
    response = await api.get("/v1/search", params=params, headers=alice)
    assert response.status_code == 200, response.text
    assert [h["doc_id"] for h in response.json()["hits"]] == ["doc-alice"]
    asked = store.asked[-1]
    assert (asked.query, asked.k) == ("halving reward", 3)
    assert asked.filters.source == "document"
    assert asked.filters.symbol == "BTCUSDT"
    assert asked.filters.since == T0 + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "btc", "k": "0"}, "k"),
        ({"q": "btc", "k": "51"}, "k"),
        ({"q": "btc", "k": "ten"}, "k"),
        ({"q": "btc", "source": "tweet"}, "source"),
        ({"q": "btc", "since": "2026-11-24T12:00:00"}, "since"),  # no zone
        ({"q": "btc", "since": "yesterday"}, "since"),
        ({"q": "btc", "symbol": "no such!"}, "symbol"),
    ],
)
async def test_a_bad_search_parameter_is_422_naming_it(
    api: httpx.AsyncClient,
    store: WordOverlapKnowledge,
    user_token: UserToken,
    params: dict[str, str],
    field: str,
) -> None:
    alice = bearer(await user_token("alice"))
    response = await api.get("/v1/search", params=params, headers=alice)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["query", field]]
    assert store.asked == []


async def test_without_a_token_nothing_is_answered(
    api: httpx.AsyncClient, store: WordOverlapKnowledge
) -> None:
    for path in ("/v1/search?q=halving", "/v1/posts"):
        response = await api.get(path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    bad = await api.get("/v1/search?q=halving", headers=bearer("ixo_not-a-token"))
    assert bad.status_code == 401
    assert store.asked == []


async def test_a_store_that_does_not_answer_is_503(
    api: httpx.AsyncClient, store: WordOverlapKnowledge, user_token: UserToken
) -> None:
    store.down = True
    response = await api.get(
        "/v1/search", params={"q": "halving"}, headers=bearer(await user_token("alice"))
    )
    assert response.status_code == 503
    assert "does not answer" in response.json()["detail"]


async def test_without_a_store_search_is_503_and_posts_still_list(
    gateway: httpx.AsyncClient, user_token: UserToken
) -> None:
    alice = bearer(await user_token("alice"))
    response = await gateway.get("/v1/search", params={"q": "halving"}, headers=alice)
    assert response.status_code == 503
    assert "knowledge search is not available" in response.json()["detail"]
    posts = await gateway.get("/v1/posts", headers=alice)
    assert posts.status_code == 200
    assert posts.json() == {"count": 0, "posts": []}


def scraped(post_id: str, minutes: int, symbols: tuple[str, ...]) -> CloudEvent[Any]:
    data = SocialPostScrapedV1(
        post_id=post_id,
        author="@desk",
        text=f"post {post_id} about {' '.join(symbols) or 'nothing'}",
        created_at=T0 + timedelta(minutes=minutes),
        url=f"https://x.com/i/status/{post_id}",
        symbols=symbols,
    )
    return CloudEvent.new(data, source="/tests")


async def test_posts_published_to_kafka_are_listed_newest_first(
    api: httpx.AsyncClient, publisher: EventPublisher, user_token: UserToken
) -> None:
    alice = bearer(await user_token("alice"))
    for event in (
        scraped("101", 0, ("BTCUSDT",)),
        scraped("102", 5, ("ETHUSDT",)),
        scraped("103", 10, ("BTCUSDT", "ETHUSDT")),
        scraped("104", 15, ("BTCUSDT",)),
    ):
        await publisher.publish(event, SOCIAL_POSTS)

    async def btc() -> list[str]:
        response = await api.get("/v1/posts", params={"symbol": "BTCUSDT"}, headers=alice)
        assert response.status_code == 200, response.text
        found = [p["post_id"] for p in response.json()["posts"]]
        return found if len(found) == 3 else []

    assert await eventually(btc) == ["104", "103", "101"]
    since = await api.get(
        "/v1/posts",
        params={"symbol": "btc", "since": "2026-11-24T12:10:00Z", "limit": "5"},
        headers=alice,
    )
    body = since.json()
    assert [p["post_id"] for p in body["posts"]] == ["104", "103"]
    assert body["posts"][0] == {
        "post_id": "104",
        "author": "@desk",
        "text": "post 104 about BTCUSDT",
        "url": "https://x.com/i/status/104",
        "created_at": "2026-11-24T12:15:00Z",
        "metrics": {},
        "symbols": ["BTCUSDT"],
    }
    words = await api.get("/v1/posts", params={"q": "ETHUSDT"}, headers=alice)
    assert [p["post_id"] for p in words.json()["posts"]] == ["103", "102"]

    for params, field in (
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"symbol": "!!"}, "symbol"),
        ({"since": "soon"}, "since"),
        ({"q": " "}, "q"),
    ):
        bad = await api.get("/v1/posts", params=params, headers=alice)
        assert bad.status_code == 422, (params, bad.text)
        assert [e["loc"] for e in bad.json()["detail"]] == [["query", field]]


async def test_the_routes_document_their_statuses(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    for path in ("/v1/search", "/v1/posts"):
        operation = doc["paths"][path]["get"]
        assert set(operation["responses"]) == {"200", "401", "403", "422", "429", "503"}
        assert operation["security"]
    params = {p["name"]: p for p in doc["paths"]["/v1/search"]["get"]["parameters"]}
    assert params["k"]["schema"]["maximum"] == 50
    assert params["q"]["schema"]["maxLength"] == 500


async def test_ixo_search_says_when_the_store_does_not_answer(
    settings_env: dict[str, str], topics: None
) -> None:
    """Nothing runs the embedder here: the command fails in one line; bad input is usage."""
    down = await aixo(settings_env, "search", "halving", "--json")
    assert down.returncode == 1
    assert down.stderr.startswith("error: ")
    assert "embedder" in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1
    assert down.stdout == ""
    bad = await aixo(settings_env, "search", "halving", "--k", "51")
    assert bad.returncode == 2
    assert "k: Input should be less than or equal to 50" in bad.stderr
