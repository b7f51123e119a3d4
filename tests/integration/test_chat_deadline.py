"""A model that hangs, is unreachable or refuses us never silences chat (decision 0089): each
request gets the offline assistant's answer (or an error answer) within the deadline, and the
requests behind it on its partition are answered too. Real Kafka, Redis, FerretDB and the
OpenAI-compatible stand-in."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from faststream import FastStream

from consumers.orchestrator.app import ERROR_ANSWER, GROUP, OFFLINE_NOTE, build_app
from infra.kafka import EventPublisher, make_broker
from infra.settings import Settings
from infra.stack.standins import OpenAIStandIn, free_port
from schemas import CHAT_REQUESTS, CHAT_RESPONSES, ChatMessageReceivedV1, CloudEvent
from tests._kafka import eventually, group_caught_up, read_topic, wait_assigned

DEADLINE_S = 2.0


@pytest.fixture
def model() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as standin:
        yield standin


def online(settings: Settings, base_url: str, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "llm_base_url": base_url,
            "llm_api_key": "test-key",
            "llm_model": "stand-in",
            "chat_deadline_s": DEADLINE_S,
            **more,
        }
    )


@pytest.fixture
async def ask(settings: Settings, topics: None) -> AsyncIterator[Any]:
    producer = make_broker(settings)
    await producer.start()
    publisher = EventPublisher(producer, settings)

    async def send(*texts: tuple[str, str]) -> list[CloudEvent[ChatMessageReceivedV1]]:
        requests = [
            CloudEvent.new(
                ChatMessageReceivedV1(session_id=session, user_id="carol", channel="cli", text=t),
                source="/tests",
            )
            for session, t in texts
        ]
        await publisher.publish_many(requests)
        return requests

    yield send
    await producer.stop()


async def run(app: FastStream) -> FastStream:
    await app.start()
    assert app.broker is not None
    await wait_assigned(app.broker)  # type: ignore[arg-type]
    return app


async def completions(settings: Settings, n: int, timeout: float) -> dict[str, dict[str, Any]]:
    async def answered() -> dict[str, dict[str, Any]]:
        done = [
            json.loads(r.value)["data"]
            for r in await read_topic(settings, CHAT_RESPONSES)
            if json.loads(r.value)["type"] == "ixo.chat.response.completed.v1"
        ]
        return {d["request_id"]: d for d in done} if len(done) >= n else {}

    return await eventually(answered, timeout=timeout)


async def test_a_hanging_model_gets_the_offline_answer_within_the_deadline(
    settings: Settings, model: OpenAIStandIn, ask: Any
) -> None:
    model.reply_text("far too late", delay_s=60)
    app = await run(build_app(online(settings, model.base_url)))
    try:
        started = time.monotonic()
        (request,) = await ask(("s-hang", "price BTC"))
        done = await completions(settings, 1, timeout=30)
        took = time.monotonic() - started
    finally:
        await app.stop()
    answer = done[request.id]
    assert answer["degraded"] == "offline"
    assert answer["text"].startswith(OFFLINE_NOTE)
    assert "BTCUSDT" in answer["text"]  # the planner's answer to "price BTC"
    assert took < DEADLINE_S + 10
    assert len(model.requests) >= 1  # the model was asked first


async def test_an_unreachable_model_holds_back_no_request(settings: Settings, ask: Any) -> None:
    """Four requests in two sessions (one partition or several): every one is answered by the
    offline assistant and the group commits past them, so nothing is redelivered."""
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    app = await run(build_app(online(settings, dead, llm_request_timeout_s=1.0)))
    try:
        requests = await ask(
            ("s-a", "price ETH"), ("s-b", "help"), ("s-a", "alerts"), ("s-b", "price SOL")
        )
        done = await completions(settings, 4, timeout=60)

        async def committed() -> bool:
            return await group_caught_up(settings, CHAT_REQUESTS, GROUP)

        await eventually(committed, timeout=30)
    finally:
        await app.stop()
    assert set(done) == {r.id for r in requests}
    assert {d["degraded"] for d in done.values()} == {"offline"}


async def test_without_the_fallback_the_user_gets_an_error_answer(
    settings: Settings, model: OpenAIStandIn, ask: Any
) -> None:
    model.fail(401, "invalid api key")  # refused: retrying will not help
    app = await run(build_app(online(settings, model.base_url, chat_offline_fallback=False)))
    try:
        (request,) = await ask(("s-err", "what is the price of BTC?"))
        done = await completions(settings, 1, timeout=30)
    finally:
        await app.stop()
    answer = done[request.id]
    assert answer["degraded"] == "error"
    assert answer["text"] == ERROR_ANSWER
    assert "invalid api key" not in answer["text"]  # what the provider said stays in the logs
