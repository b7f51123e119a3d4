"""Chat as events end to end: gateway -> ixo.chat.requests -> orchestrator (agent) ->
ixo.chat.responses -> SSE, with rule events from the agent's tools; real Kafka, Redis, FerretDB
and a local OpenAI-compatible stand-in model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from faststream import FastStream

from agent import Ports
from consumers.orchestrator.app import GROUP, build_app
from infra.settings import Settings
from infra.stack.standins import OpenAIStandIn, call
from schemas import ALERT_RULES, CHAT_REQUESTS, CHAT_RESPONSES
from tests._kafka import eventually, group_caught_up, read_topic, rewind, wait_assigned
from tests.integration.conftest import UserToken, bearer, read_sse


@pytest.fixture
def model() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as standin:
        yield standin


async def started(app: FastStream) -> FastStream:
    await app.start()
    assert app.broker is not None
    await wait_assigned(app.broker)  # type: ignore[arg-type]
    return app


@pytest.fixture
async def offline_orchestrator(settings: Settings) -> AsyncIterator[FastStream]:
    app = await started(build_app(settings))
    yield app
    await app.stop()


async def responses(settings: Settings, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(r.value)
        for r in await read_topic(settings, CHAT_RESPONSES)
        if json.loads(r.value)["type"] == kind
    ]


async def test_the_model_creates_an_alert_and_the_answer_streams_over_sse(
    settings: Settings,
    gateway: httpx.AsyncClient,
    model: OpenAIStandIn,
    user_token: UserToken,
) -> None:
    gateway.headers.update(bearer(await user_token("alice")))
    online = settings.model_copy(
        update={
            "llm_base_url": model.base_url,
            "llm_api_key": "test-key",
            "llm_model": "stand-in",
        }
    )
    model.reply_tool_calls(
        call("create_alert", {"symbol": "BTC", "condition": "above", "threshold": "70000"})
    )
    model.reply_text("Done: I will tell you when BTCUSDT reaches 70000.")
    app = await started(build_app(online))
    try:
        response = await gateway.post("/v1/chat", json={"text": "tell me when BTC passes 70k"})
        assert response.status_code == 202
        session_id = response.json()["session_id"]
        events = await asyncio.wait_for(
            _until_completed(gateway, f"/v1/chat/{session_id}/events"), timeout=60
        )
        rules = await eventually(lambda: read_topic(settings, ALERT_RULES))
    finally:
        await app.stop()
    kinds = [e["type"] for e in events]
    assert "ixo.agent.tool.called.v1" in kinds
    assert kinds[-1] == "ixo.chat.response.completed.v1"
    deltas = [e["data"]["text"] for e in events if e["type"] == "ixo.chat.response.delta.v1"]
    assert len(deltas) > 1  # streamed in pieces
    assert "".join(deltas).endswith("reaches 70000.")
    completed = events[-1]["data"]
    assert completed["text"] == "Done: I will tell you when BTCUSDT reaches 70000."
    assert completed["prompt"] == "tell me when BTC passes 70k"
    assert len(rules) == 1
    rule = json.loads(rules[0].value)
    assert rule["type"] == "ixo.alert.rule.created.v1"
    assert rule["data"]["user_id"] == "alice"
    assert rule["data"]["symbol"] == "BTCUSDT"
    assert rule["data"]["condition"]["threshold"] == "70000"
    assert rule["correlationid"] == events[-1]["correlationid"]
    # The model saw the tool's result before answering.
    assert model.requests[1]["messages"][-1]["role"] == "tool"


async def _until_completed(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while not out or out[-1]["type"] != "ixo.chat.response.completed.v1":
        batch = await read_sse(client, url, len(out) + 1)
        out = [json.loads(e["data"]) for e in batch]
    return out


async def test_offline_planner_answers_and_a_redelivered_request_changes_nothing(
    settings: Settings, topics: None, offline_orchestrator: FastStream
) -> None:
    from infra.kafka import EventPublisher, make_broker
    from schemas import ChatMessageReceivedV1, CloudEvent

    producer = make_broker(settings)
    await producer.start()
    publisher = EventPublisher(producer, settings)
    requests = [
        CloudEvent.new(
            ChatMessageReceivedV1(session_id="s1", user_id="bob", channel="cli", text=text),
            source="/tests",
        )
        for text in ("alert ETH below 2500", "what can you do?")
    ]
    await publisher.publish_many(requests)
    await producer.stop()

    async def answered() -> list[dict[str, Any]]:
        done = await responses(settings, "ixo.chat.response.completed.v1")
        return done if len(done) == 2 else []

    completed = await eventually(answered, timeout=60)
    by_request = {c["data"]["request_id"]: c["data"]["text"] for c in completed}
    assert "ETHUSDT" in by_request[requests[0].id]
    assert "price" in by_request[requests[1].id].lower()
    rules = await read_topic(settings, ALERT_RULES)
    assert len(rules) == 1
    assert json.loads(rules[0].value)["data"]["condition"] == {
        "kind": "below",
        "threshold": "2500",
        "window_s": None,
    }

    # Redelivery: the same requests again produce no second rule and no second answer.
    await offline_orchestrator.stop()
    await rewind(settings, CHAT_REQUESTS, GROUP)
    app = await started(build_app(settings))
    try:

        async def consumed() -> bool:
            return await group_caught_up(settings, CHAT_REQUESTS, GROUP)

        await eventually(consumed, timeout=60)
        await asyncio.sleep(1)
    finally:
        await app.stop()
    assert len(await read_topic(settings, ALERT_RULES)) == 1
    assert len(await responses(settings, "ixo.chat.response.completed.v1")) == 2


# -- the agent from settings ---------------------------------------------------------------


def test_an_invalid_agent_setting_fails_when_the_app_is_built(
    settings: Settings, tmp_path: Path
) -> None:
    from agent import AgentConfigError

    with pytest.raises(AgentConfigError, match="no packaged agent 'nobody'"):
        build_app(settings.model_copy(update={"agent_config": "nobody"}))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\n", encoding="utf-8")  # no offline_graph
    with pytest.raises(AgentConfigError, match="offline_graph"):
        build_app(settings.model_copy(update={"agent_config": str(broken)}))


async def test_agent_config_and_model_settings_reach_the_agent(
    settings: Settings, tmp_path: Path, model: OpenAIStandIn
) -> None:
    """IXO_AGENT_CONFIG names another YAML (one tool round, no streaming); IXO_LLM_STREAM then
    turns streaming back on over the file's value."""
    from redis.asyncio import Redis

    from agent import load_config
    from consumers.orchestrator.app import build_agent
    from infra.mongo import mongo_client
    from tests.fakes import FixedPrices, RecordingSink, chat

    bundled = load_config("market-assistant").model_dump(mode="json")
    bundled["name"] = "one-round"
    bundled["llm"].update(max_tool_rounds=1, stream=False, max_retries=0, retries=0)
    path = tmp_path / "one_round.yaml"
    path.write_text(yaml.safe_dump(bundled), encoding="utf-8")
    online = settings.model_copy(
        update={
            "agent_config": str(path),
            "agent_checkpoints": "memory",
            "llm_base_url": model.base_url,
            "llm_api_key": "test-key",
            "llm_model": "stand-in",
        }
    )
    redis, mongo = Redis.from_url(settings.redis_url), mongo_client(settings)
    try:
        agent = build_agent(online, redis=redis, mongo=mongo[settings.mongodb_database])
        assert agent.name == "one-round"
        model.reply_tool_calls(call("get_price", {"symbol": "BTC"}))
        model.reply_tool_calls(call("get_price", {"symbol": "ETH"}))
        stuck = await agent.answer(
            chat("loop"), request_id="r1", sink=RecordingSink(), ports=Ports(prices=FixedPrices())
        )
        await agent.aclose()
        assert stuck.text.startswith("I stopped after 1 round")
        assert len(stuck.tool_calls) == 1
        assert all(r.get("stream") is not True for r in model.requests)

        model.clear()
        streaming = online.model_copy(update={"llm_stream": True, "llm_max_tool_rounds": 4})
        agent = build_agent(streaming, redis=redis, mongo=mongo[settings.mongodb_database])
        model.reply_text("BTCUSDT is 64123.5.")
        sink = RecordingSink()
        await agent.answer(chat("price BTC"), request_id="r2", sink=sink)
        await agent.aclose()
        assert [r.get("stream") for r in model.requests] == [True]
        assert sink.text() == "BTCUSDT is 64123.5."
    finally:
        await redis.aclose()
        await mongo.close()


async def test_checkpoints_setting_keeps_the_agent_s_checkpoints_in_mongodb(
    settings: Settings, topics: None
) -> None:
    """IXO_AGENT_CHECKPOINTS=mongodb: the orchestrator's answered request is checkpointed in
    MongoDB's ``agent_checkpoints`` collection, and no checkpoint key is written to Redis."""
    from redis.asyncio import Redis

    from infra.kafka import EventPublisher, make_broker
    from infra.mongo import mongo_client
    from schemas import ChatMessageReceivedV1, CloudEvent

    in_mongo = settings.model_copy(update={"agent_checkpoints": "mongodb"})
    app = await started(build_app(in_mongo))
    try:
        producer = make_broker(settings)
        await producer.start()
        request = CloudEvent.new(
            ChatMessageReceivedV1(session_id="s9", user_id="eve", channel="cli", text="help"),
            source="/tests",
        )
        await EventPublisher(producer, settings).publish(request)
        await producer.stop()

        async def answered() -> list[dict[str, Any]]:
            return await responses(settings, "ixo.chat.response.completed.v1")

        await eventually(answered, timeout=60)
    finally:
        await app.stop()
    client = mongo_client(settings)
    redis = Redis.from_url(settings.redis_url)
    try:
        stored = await client[settings.mongodb_database]["agent_checkpoints"].find_one(
            {"_id": request.id}
        )
        redis_keys = [k async for k in redis.scan_iter(match=f"{settings.topic_prefix}agent:cp*")]
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()
        await redis.aclose()
    assert stored is not None
    assert redis_keys == []
