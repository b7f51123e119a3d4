"""Chat as events end to end: gateway -> ixo.chat.requests -> orchestrator (agent) ->
ixo.chat.responses -> SSE, with rule events from the agent's tools; real Kafka, Redis, FerretDB
and a local OpenAI-compatible stand-in model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from faststream import FastStream

from consumers.orchestrator.app import GROUP, build_app
from infra.settings import Settings
from schemas import ALERT_RULES, CHAT_REQUESTS, CHAT_RESPONSES
from tests._kafka import eventually, group_caught_up, read_topic, rewind, wait_assigned
from tests.integration.conftest import read_sse
from tests.standins.openai_server import OpenAIStandIn, call


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
) -> None:
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
        response = await gateway.post(
            "/v1/chat", json={"user_id": "alice", "text": "tell me when BTC passes 70k"}
        )
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
