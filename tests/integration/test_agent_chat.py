"""The market assistant with a model: the real ``openai`` client, unpatched, against the
OpenAI-compatible stand-in server (streaming chunks and tool calls), checkpoints and the tool
cache in the session stack's real Redis.

A chat that makes the model call ``create_alert`` creates one rule through the rules port and
streams the answer; invalid tool arguments go back to the model, which recovers; a crash
between the tool call and the answer resumes from the Redis checkpoint without a second rule;
tool rounds are capped; model failures map to our errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from agent import (
    AGENT_NAMESPACE,
    Agent,
    AgentFactory,
    LLMEndpoint,
    LLMOptions,
    Message,
    ModelRejected,
    ModelUnavailable,
    Ports,
    load_config,
)
from infra.settings import Settings
from infra.stack.standins import OpenAIStandIn, call
from tests.fakes import FixedPrices, RecordingRules, RecordingSink, chat

MODEL = "standin-model"
API_KEY = "test-key"
CREATE = {"symbol": "BTC", "condition": "above", "threshold": 70000}


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as standin:
        yield standin


@pytest.fixture
def llm(server: OpenAIStandIn) -> OpenAIStandIn:
    server.clear()
    return server


@pytest.fixture
async def redis(settings: Settings, test_id: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"t{test_id}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def factory(redis: Redis, test_id: str) -> AgentFactory:
    return AgentFactory(redis=redis, key_prefix=f"t{test_id}:")


def build(factory: AgentFactory, llm: OpenAIStandIn, **options: Any) -> Agent:
    """The packaged market assistant on the stand-in; fast failure settings for tests."""
    cfg = load_config("market-assistant")
    settings = {
        "max_retries": 0,
        "retries": 0,
        "request_timeout_s": 5.0,
        "round_timeout_s": 10.0,
        **options,
    }
    cfg = cfg.model_copy(update={"llm": LLMOptions(**{**cfg.llm.model_dump(), **settings})})
    endpoint = LLMEndpoint(base_url=llm.base_url, api_key=API_KEY, model=MODEL)
    built = factory.build(cfg, llm=endpoint)
    assert built.online
    return built


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


@pytest.fixture
async def agent(factory: AgentFactory, llm: OpenAIStandIn) -> AsyncIterator[Agent]:
    built = build(factory, llm)
    yield built
    await built.aclose()


async def test_a_chat_creates_an_alert_and_streams_the_answer(
    agent: Agent, llm: OpenAIStandIn, redis: Redis, test_id: str
) -> None:
    llm.reply_tool_calls(call("create_alert", CREATE, call_id="call_create"))
    llm.reply_text("Done: you will be alerted when BTCUSDT goes above 70000.")
    rules = RecordingRules()
    sink = RecordingSink()
    answer = await agent.answer(
        chat("tell me when bitcoin is over 70k"),
        request_id="req-1",
        sink=sink,
        ports=Ports(prices=FixedPrices(), rules=rules),
    )

    ((rule, key),) = rules.creates
    assert key == "req-1:0"
    assert rule.rule_id == str(uuid.uuid5(AGENT_NAMESPACE, "req-1:0"))
    assert (rule.user_id, rule.symbol, rule.condition.kind) == ("u1", "BTCUSDT", "above")
    assert str(rule.condition.threshold) == "70000"

    assert sink.kinds()[0] == "tool_called"
    (tool_call,) = sink.tool_calls()
    assert tool_call.call_id == "call_create"
    assert tool_call.error is None
    assert tool_call.result["rule_id"] == rule.rule_id
    deltas = sink.deltas()
    assert len(deltas) > 3  # streamed in pieces
    assert [seq for seq, _ in deltas] == list(range(len(deltas)))
    text = "Done: you will be alerted when BTCUSDT goes above 70000."
    assert sink.text() == text
    assert sink.completions() == [(text, (tool_call,))]
    assert answer.text == text
    assert answer.tool_calls == (tool_call,)

    first, second = llm.requests
    assert first["model"] == MODEL
    assert first["stream"] is True
    assert [t["function"]["name"] for t in first["tools"]] == [
        "get_price",
        "create_alert",
        "list_alerts",
        "delete_alert",
        "search_knowledge",
        "recent_posts",
        "register_onchain_alert",
        "chain_events",
    ]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["messages"][1]["content"] == "tell me when bitcoin is over 70k"
    assert llm.headers[0]["authorization"] == f"Bearer {API_KEY}"
    assistant = second["messages"][2]
    assert assistant["tool_calls"][0]["id"] == "call_create"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == CREATE
    (result,) = tool_messages(second)
    assert result["tool_call_id"] == "call_create"
    assert json.loads(result["content"])["rule_id"] == rule.rule_id

    done = await redis.hget(f"t{test_id}:agent:cp:req-1", "state")
    assert done is not None
    assert json.loads(done)["node"] == "__end__"


async def test_invalid_tool_arguments_go_back_to_the_model(
    agent: Agent, llm: OpenAIStandIn
) -> None:
    llm.reply_tool_calls(call("create_alert", '{"symbol": "BTC", "condition": "above"'))
    llm.reply_tool_calls(call("create_alert", {**CREATE, "condition": "over"}))
    llm.reply_tool_calls(call("create_alert", CREATE))
    llm.reply_text("Your alert is set.")
    rules = RecordingRules()
    sink = RecordingSink()
    answer = await agent.answer(
        chat("alert me above 70k"), request_id="req-2", sink=sink, ports=Ports(rules=rules)
    )
    assert answer.text == "Your alert is set."
    bad_json, bad_value, good = sink.tool_calls()
    assert bad_json.error is not None
    assert "not valid JSON" in bad_json.error
    assert bad_value.error is not None
    assert "condition: Input should be" in bad_value.error
    assert good.error is None
    assert len(rules.creates) == 1
    (_, key) = rules.creates[0]
    assert key == "req-2:2"  # the third call of the request
    assert len(llm.requests) == 4
    errors = [json.loads(m["content"]) for m in tool_messages(llm.requests[2])]
    assert "not valid JSON" in errors[0]["error"]
    assert "over" in errors[1]["error"]


async def test_non_streaming_mode(factory: AgentFactory, llm: OpenAIStandIn) -> None:
    agent = build(factory, llm, stream=False)
    llm.reply_tool_calls(call("get_price", {"symbol": "btc"}))
    llm.reply_text("BTCUSDT is at 64123.5.")
    sink = RecordingSink()
    answer = await agent.answer(
        chat("btc?"), request_id="req-3", sink=sink, ports=Ports(prices=FixedPrices())
    )
    await agent.aclose()
    assert answer.text == "BTCUSDT is at 64123.5."
    assert sink.deltas() == [(0, "BTCUSDT is at 64123.5.")]
    assert "stream" not in llm.requests[0] or llm.requests[0]["stream"] is False
    assert sink.tool_calls()[0].result["price"] == "64123.5"


@pytest.mark.parametrize("crash", ["model_after_tool", "sink_after_tool", "sink_mid_answer"])
async def test_a_crash_after_the_tool_call_resumes_from_the_redis_checkpoint(
    factory: AgentFactory, llm: OpenAIStandIn, crash: str
) -> None:
    rules = RecordingRules()
    ports = Ports(rules=rules)
    request = chat("alert me above 70k")

    # First process: the model asks for create_alert, the rule is created, then it crashes.
    first = build(factory, llm)
    llm.reply_tool_calls(call("create_alert", CREATE, call_id="call_1"))
    if crash == "model_after_tool":
        llm.fail(503, "overloaded")
        sink = RecordingSink()
        with pytest.raises(ModelUnavailable, match="HTTP 503"):
            await first.answer(request, request_id="req-4", sink=sink, ports=ports)
    else:
        llm.reply_text("Your alert is set.")
        sink = RecordingSink(fail_on="tool_called" if crash == "sink_after_tool" else "delta")
        with pytest.raises(RuntimeError, match="sink crashed"):
            await first.answer(request, request_id="req-4", sink=sink, ports=ports)
    await first.aclose()
    assert len(rules.creates) == 1
    llm.clear()

    # Second process, same request id: resumes from Redis; no second model round for the
    # tool call, no second rule.
    second = build(factory, llm)
    llm.reply_text("Your alert is set.")
    sink = RecordingSink()
    answer = await second.answer(request, request_id="req-4", sink=sink, ports=ports)
    assert answer.resumed
    assert answer.text == "Your alert is set."
    assert len(rules.creates) == 1
    assert len(rules.rules) == 1
    (body,) = llm.requests
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assert json.loads(body["messages"][3]["content"])["rule_id"] == rules.creates[0][0].rule_id
    assert sink.kinds()[-1] == "completed"
    (completed_text, calls) = sink.completions()[0]
    assert completed_text == "Your alert is set."
    assert [c.name for c in calls] == ["create_alert"]

    # A third delivery of the same request: already answered, nothing runs or is emitted.
    llm.clear()
    replay_sink = RecordingSink()
    replay = await second.answer(request, request_id="req-4", sink=replay_sink, ports=ports)
    await second.aclose()
    assert replay.replayed
    assert replay_sink.events == []
    assert llm.requests == []
    assert len(rules.creates) == 1


async def test_tool_rounds_are_capped(factory: AgentFactory, llm: OpenAIStandIn) -> None:
    agent = build(factory, llm, max_tool_rounds=2)
    prices = FixedPrices()
    llm.reply_tool_calls(call("get_price", {"symbol": "BTC"}))
    llm.reply_tool_calls(call("get_price", {"symbol": "ETH"}))
    llm.reply_text("BTC is 64123.5; ETH has no price yet.")
    answer = await agent.answer(
        chat("prices?"), request_id="req-5", sink=RecordingSink(), ports=Ports(prices=prices)
    )
    assert answer.text == "BTC is 64123.5; ETH has no price yet."
    assert len(llm.requests) == 3
    assert "tools" in llm.requests[1]
    assert "tools" not in llm.requests[2]  # the last round must answer in text
    assert prices.lookups == ["BTCUSDT", "ETHUSDT"]

    # A model that still asks for tools gets no more rounds: the run ends with a plain answer.
    llm.clear()
    llm.reply_tool_calls(call("get_price", {"symbol": "BTC"}))
    llm.reply_tool_calls(call("get_price", {"symbol": "BTC"}))
    llm.reply_tool_calls(call("get_price", {"symbol": "BTC"}))
    sink = RecordingSink()
    stuck = await agent.answer(
        chat("loop"), request_id="req-6", sink=sink, ports=Ports(prices=prices)
    )
    await agent.aclose()
    assert stuck.text.startswith("I stopped after 2 rounds of tool calls")
    assert sink.text() == stuck.text
    assert len(stuck.tool_calls) == 2
    assert llm.pending() == 0


async def test_history_and_system_prompt_are_sent(agent: Agent, llm: OpenAIStandIn) -> None:
    llm.reply_text("You asked about BTC before.")
    history = [
        Message(role="user", content="price BTC"),
        Message(role="assistant", content="BTCUSDT is 64123.5."),
    ]
    await agent.answer(
        chat("what did I ask?"), request_id="req-7", sink=RecordingSink(), history=history
    )
    roles = [(m["role"], m["content"]) for m in llm.requests[0]["messages"]]
    assert roles[0][0] == "system"
    assert roles[1:] == [
        ("user", "price BTC"),
        ("assistant", "BTCUSDT is 64123.5."),
        ("user", "what did I ask?"),
    ]


async def test_model_failures_map_to_our_errors(factory: AgentFactory, llm: OpenAIStandIn) -> None:
    agent = build(factory, llm, retries=1, retry_backoff_s=0.01)
    llm.fail(401, "bad key")
    with pytest.raises(ModelRejected, match="HTTP 401: bad key"):
        await agent.answer(chat("hi"), request_id="req-8", sink=RecordingSink())
    assert len(llm.requests) == 1  # refused: not retried

    llm.clear()
    llm.fail(500, "boom")
    llm.reply_text("Recovered.")
    answer = await agent.answer(chat("hi"), request_id="req-9", sink=RecordingSink())
    assert answer.text == "Recovered."
    assert len(llm.requests) == 2  # one retry of the round

    llm.clear()
    llm.fail(503, "down")
    llm.fail(503, "still down")
    with pytest.raises(ModelUnavailable, match="still down"):
        await agent.answer(chat("hi"), request_id="req-10", sink=RecordingSink())
    await agent.aclose()

    slow = build(factory, llm, request_timeout_s=0.3, round_timeout_s=0.5)
    llm.clear()
    llm.reply_text("too late", delay_s=2.0)
    with pytest.raises(ModelUnavailable):
        await slow.answer(chat("hi"), request_id="req-11", sink=RecordingSink())
    await slow.aclose()


async def test_an_unreachable_model_is_transient(factory: AgentFactory) -> None:
    cfg = load_config("market-assistant").model_copy(
        update={"llm": LLMOptions(max_retries=0, retries=0, request_timeout_s=2.0)}
    )
    endpoint = LLMEndpoint(base_url="http://127.0.0.1:9/v1", api_key="k", model=MODEL)
    agent = factory.build(cfg, llm=endpoint)
    with pytest.raises(ModelUnavailable, match="unreachable"):
        await agent.answer(chat("hi"), request_id="req-12", sink=RecordingSink())
    await agent.aclose()
