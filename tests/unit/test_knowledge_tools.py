"""The knowledge tools of the agent: ``search_knowledge`` asks the port as the calling user and
returns cited passages; ``recent_posts`` returns posts cited by URL; the market assistant
offers both, the offline planner's answers list the citations, and the model is given the
citations in the tool result and told to cite them. The port is a small implementation of the
agent's own :class:`KnowledgePort`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from agent import (
    TOOLS,
    Agent,
    AgentFactory,
    DeltaCallback,
    KnowledgeHitView,
    MemoryCheckpointStore,
    MemoryToolResultCache,
    Message,
    ModelReply,
    Ports,
    PostView,
    ToolContext,
    ToolError,
    ToolRequest,
    ToolSpec,
    load_config,
)
from schemas import ToolCall
from tests.fakes import FixedPrices, RecordingRules, RecordingSink, chat

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)
HITS = [
    KnowledgeHitView(
        doc_id="post-9001",
        text="$BTC halving cuts the block reward in half",
        score=0.91,
        source="post",
        citation="https://x.com/i/status/9001",
        url="https://x.com/i/status/9001",
        symbols=("BTCUSDT",),
        created_at=T0,
    ),
    KnowledgeHitView(
        doc_id="doc-alice",
        chunk=2,
        text="My notes on the halving. " + "word " * 400,
        score=0.8,
        source="document",
        citation="doc-alice chunk 2",
        title="halving.md",
    ),
]
POSTS = [
    PostView(
        post_id="9002",
        author="@desk",
        text="$ETH gas is cheap today",
        url="https://x.com/i/status/9002",
        created_at=T0,
        symbols=("ETHUSDT",),
    )
]


class FakeKnowledge:
    """The agent's KnowledgePort: fixed hits and posts, recording what it was asked."""

    def __init__(self, *, fail: str | None = None) -> None:
        self.searches: list[dict[str, Any]] = []
        self.post_reads: list[dict[str, Any]] = []
        self.fail = fail

    async def search(
        self,
        user_id: str,
        query: str,
        *,
        k: int,
        source: Literal["post", "document"] | None = None,
        since: datetime | None = None,
        symbol: str | None = None,
    ) -> Sequence[KnowledgeHitView]:
        self.searches.append(
            {
                "user_id": user_id,
                "query": query,
                "k": k,
                "source": source,
                "since": since,
                "symbol": symbol,
            }
        )
        if self.fail:
            raise ToolError(self.fail)
        return HITS[:k]

    async def recent_posts(
        self, symbol_or_query: str, *, since: datetime | None = None, limit: int
    ) -> Sequence[PostView]:
        self.post_reads.append({"symbol_or_query": symbol_or_query, "since": since, "limit": limit})
        return POSTS[:limit]


def context(ports: Ports, user_id: str = "alice", index: int = 0) -> ToolContext:
    return ToolContext(
        request_id=f"req-{user_id}",
        session_id="s1",
        user_id=user_id,
        channel="web",
        call_index=index,
        ports=ports,
    )


async def run(
    name: str,
    arguments: dict[str, Any],
    ports: Ports,
    *,
    user_id: str = "alice",
    cache: MemoryToolResultCache | None = None,
) -> ToolCall:
    return await TOOLS.execute(
        ToolRequest(index=0, call_id="c0", name=name, arguments=json.dumps(arguments)),
        context(ports, user_id),
        cache or MemoryToolResultCache(),
        idempotency_ttl_s=60,
    )


def with_knowledge(port: FakeKnowledge) -> Ports:
    return Ports(prices=FixedPrices(), rules=RecordingRules(), extras={"knowledge": port})


async def test_search_knowledge_asks_as_the_user_and_returns_cited_passages() -> None:
    port = FakeKnowledge()
    call = await run(
        "search_knowledge",
        {
            "query": " halving   reward ",
            "k": 2,
            "source": "document",
            "since": "2026-11-24T00:00:00Z",
            "symbol": "btc",
        },
        with_knowledge(port),
    )
    assert call.error is None
    assert port.searches == [
        {
            "user_id": "alice",
            "query": "halving reward",
            "k": 2,
            "source": "document",
            "since": datetime(2026, 11, 24, tzinfo=UTC),
            "symbol": "BTCUSDT",
        }
    ]
    result = call.result
    assert result["count"] == 2
    first, second = result["hits"]
    assert first == {
        "n": 1,
        "citation": "https://x.com/i/status/9001",
        "source": "post",
        "doc_id": "post-9001",
        "chunk": 0,
        "score": 0.91,
        "text": "$BTC halving cuts the block reward in half",
        "url": "https://x.com/i/status/9001",
        "symbols": ["BTCUSDT"],
        "created_at": T0.isoformat(),
    }
    assert (second["citation"], second["title"]) == ("doc-alice chunk 2", "halving.md")
    assert len(second["text"]) <= 600  # long passages are cut for the model
    assert second["text"].endswith("…")


async def test_search_results_are_never_shared_between_users() -> None:
    """The registry's read cache is keyed by arguments alone; a search depends on the user."""
    port = FakeKnowledge()
    cache = MemoryToolResultCache()
    for user in ("alice", "bob", "alice"):
        await run(
            "search_knowledge",
            {"query": "halving"},
            with_knowledge(port),
            user_id=user,
            cache=cache,
        )
    assert [s["user_id"] for s in port.searches] == ["alice", "bob", "alice"]


async def test_recent_posts_cites_each_post_by_url_and_is_cached() -> None:
    port = FakeKnowledge()
    cache = MemoryToolResultCache()
    calls = [
        await run("recent_posts", {"symbol_or_query": "$ETH"}, with_knowledge(port), cache=cache)
        for _ in range(2)
    ]
    assert (
        calls[0].result
        == calls[1].result
        == {
            "symbol_or_query": "$ETH",
            "count": 1,
            "posts": [
                {
                    "citation": "https://x.com/i/status/9002",
                    "author": "@desk",
                    "created_at": T0.isoformat(),
                    "text": "$ETH gas is cheap today",
                    "symbols": ["ETHUSDT"],
                }
            ],
        }
    )
    assert port.post_reads == [{"symbol_or_query": "$ETH", "since": None, "limit": 5}]


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        ("search_knowledge", {"query": ""}, "query"),
        ("search_knowledge", {"query": "   "}, "the query has no words"),
        ("search_knowledge", {"query": "x", "k": 21}, "k"),
        ("search_knowledge", {"query": "x", "source": "tweet"}, "source"),
        ("search_knowledge", {"query": "x", "since": "2026-11-24T00:00:00"}, "since"),
        ("search_knowledge", {"query": "x", "symbol": "no way!"}, "symbol"),
        ("recent_posts", {"symbol_or_query": "x" * 201}, "symbol_or_query"),
    ],
)
async def test_bad_arguments_are_the_calls_error(
    name: str, arguments: dict[str, Any], says: str
) -> None:
    port = FakeKnowledge()
    call = await run(name, arguments, with_knowledge(port))
    assert call.result is None
    assert call.error is not None
    assert says in call.error
    assert port.searches == port.post_reads == []


async def test_no_port_or_a_failing_one_is_the_calls_error() -> None:
    unwired = await run("search_knowledge", {"query": "halving"}, Ports())
    assert unwired.error == "knowledge is not available here"
    down = await run(
        "search_knowledge", {"query": "halving"}, with_knowledge(FakeKnowledge(fail="store down"))
    )
    assert down.error == "store down"


@pytest.fixture
def agent() -> Agent:
    return AgentFactory().build(
        "market-assistant", checkpoints=MemoryCheckpointStore(), cache=MemoryToolResultCache()
    )


async def ask(agent: Agent, text: str, ports: Ports) -> RecordingSink:
    sink = RecordingSink()
    await agent.answer(chat(text), request_id=uuid.uuid4().hex, sink=sink, ports=ports)
    return sink


async def test_the_offline_answer_to_a_search_cites_its_sources(agent: Agent) -> None:
    port = FakeKnowledge()
    sink = await ask(agent, "search bitcoin halving", with_knowledge(port))
    (call,) = sink.tool_calls()
    assert call.name == "search_knowledge"
    assert port.searches[0]["query"] == "bitcoin halving"
    text = sink.text()
    assert text.startswith('What I found about "bitcoin halving":\n[1] $BTC halving cuts')
    assert "(source: https://x.com/i/status/9001)" in text
    assert "(source: doc-alice chunk 2)" in text


async def test_the_offline_answer_to_posts_cites_each_url(agent: Agent) -> None:
    sink = await ask(agent, "posts eth", with_knowledge(FakeKnowledge()))
    assert sink.text() == (
        "Latest posts about eth:\n"
        "- 2026-11-24 12:00 UTC, @desk: $ETH gas is cheap today (https://x.com/i/status/9002)"
    )


async def test_the_offline_answer_says_when_nothing_is_found(agent: Agent) -> None:
    class Empty(FakeKnowledge):
        async def search(self, user_id: str, query: str, **_: Any) -> Sequence[KnowledgeHitView]:
            return []

    sink = await ask(agent, "search moon", with_knowledge(Empty()))
    assert sink.text() == 'I found nothing about "moon" in the knowledge base.'


class ScriptedModel:
    """A ChatModel that asks for one search, then answers; it keeps what it was sent."""

    def __init__(self) -> None:
        self.rounds: list[tuple[list[Message], list[str]]] = []

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        self.rounds.append((list(messages), [t["function"]["name"] for t in tools]))
        if len(self.rounds) == 1:
            ask = ToolRequest(
                index=0, call_id="m0", name="search_knowledge", arguments='{"query": "halving"}'
            )
            return ModelReply(tool_calls=(ask,))
        text = "Halving halves the reward [https://x.com/i/status/9001]."
        await on_delta(text)
        return ModelReply(text=text, finish_reason="stop")

    async def aclose(self) -> None:
        return None


async def test_the_model_is_told_to_cite_and_gets_the_citations() -> None:
    model = ScriptedModel()
    agent = AgentFactory().build(
        "market-assistant",
        model=model,
        checkpoints=MemoryCheckpointStore(),
        cache=MemoryToolResultCache(),
    )
    sink = await ask(agent, "what does the halving do?", with_knowledge(FakeKnowledge()))
    assert sink.text() == "Halving halves the reward [https://x.com/i/status/9001]."
    first_messages, offered = model.rounds[0]
    assert {"search_knowledge", "recent_posts"} <= set(offered)
    system = first_messages[0]
    assert system.role == "system"
    assert "Cite every passage you use by its `citation`" in (system.content or "")
    tool_message = model.rounds[1][0][-1]
    assert tool_message.role == "tool"
    given = json.loads(tool_message.content or "{}")
    assert [h["citation"] for h in given["hits"]] == [
        "https://x.com/i/status/9001",
        "doc-alice chunk 2",
    ]


def test_the_market_assistant_offers_both_tools() -> None:
    config = load_config("market-assistant")
    assert {"search_knowledge", "recent_posts"} <= set(config.tools)
    specs = {s["function"]["name"]: s["function"] for s in TOOLS.select(config.tools).specs()}
    search = specs["search_knowledge"]["parameters"]
    assert search["required"] == ["query"]
    assert search["properties"]["k"]["maximum"] == 20
    assert specs["recent_posts"]["parameters"]["required"] == ["symbol_or_query"]
