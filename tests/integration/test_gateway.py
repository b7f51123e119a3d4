"""The web gateway served by a real uvicorn on loopback, against the real stack (each request
with an API token: who may call what is in ``test_gateway_access.py``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from infra.settings import Settings
from schemas import ALERT_RULES, MARKET_TICKS, CloudEvent, MarketTickV1, encode
from tests._kafka import eventually, read_topic
from tests.integration.conftest import UserToken, bearer, read_sse

TICK = {"symbol": "BTCUSDT", "price": "64123.5", "venue": "http", "ts": "2026-11-24T10:00:00Z"}
RULE = {
    "symbol": "BTCUSDT",
    "condition": {"kind": "above", "threshold": "70000"},
    "cooldown_s": 60,
}


def tick_event(**changes: Any) -> dict[str, Any]:
    data = MarketTickV1.model_validate({**TICK, **changes})
    body: dict[str, Any] = json.loads(encode(CloudEvent.new(data, source="/tests")))
    return body


async def test_post_event_is_on_kafka_before_202(
    gateway: httpx.AsyncClient, settings: Settings, operator_headers: dict[str, str]
) -> None:
    gateway.headers.update(operator_headers)
    body = tick_event()
    response = await gateway.post("/v1/events", json=body)
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["id"] == body["id"]
    records = await read_topic(settings, MARKET_TICKS)
    assert [json.loads(r.value)["id"] for r in records] == [body["id"]]
    assert records[0].partition == receipt["partition"]
    assert records[0].offset == receipt["offset"]

    async def projected() -> bool:
        return (await gateway.get("/v1/prices/btcusdt")).status_code == 200

    await eventually(projected)
    price = (await gateway.get("/v1/prices/BTCUSDT")).json()
    assert price["price"] == "64123.5"
    assert price["venue"] == "http"
    assert (await gateway.get("/v1/prices/NOPEUSDT")).status_code == 404


async def test_malformed_bodies_and_unknown_types_get_422_and_nothing_is_written(
    gateway: httpx.AsyncClient, settings: Settings, operator_headers: dict[str, str]
) -> None:
    gateway.headers.update(operator_headers)
    bad_price = tick_event()
    bad_price["data"]["price"] = "-1"
    unknown = tick_event()
    unknown["type"] = "ixo.market.candle.v1"
    float_price = tick_event()
    float_price["data"]["price"] = 64123.5
    huge_exponent = tick_event()
    huge_exponent["data"]["price"] = "1e-2000000"  # 2 MB of zeros in plain notation
    cases: list[tuple[bytes, list[str]]] = [
        (b"{not json", ["body"]),
        (json.dumps(unknown).encode(), ["body", "type"]),
        (json.dumps(bad_price).encode(), ["body", "data", "price"]),
        (json.dumps(float_price).encode(), ["body", "data", "price"]),
        (json.dumps(huge_exponent).encode(), ["body", "data", "price"]),
        (b"[1, 2]", ["body"]),
    ]
    for raw, loc in cases:
        response = await gateway.post(
            "/v1/events", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (raw, response.text)
        detail = response.json()["detail"][0]
        assert detail["loc"] == loc, detail
        assert detail["msg"]
    bad_rules = [
        ({**RULE, "symbol": "btc$usd"}, "symbol"),
        ({**RULE, "condition": {"kind": "above", "threshold": "-5"}}, "condition"),
        ({**RULE, "condition": {"kind": "above", "threshold": "lots"}}, "threshold"),
        ({**RULE, "condition": {"kind": "sideways", "threshold": "5"}}, "kind"),
        (
            {**RULE, "condition": {"kind": "pct_change", "threshold": "5", "window_s": 10**9}},
            "window_s",
        ),
        ({**RULE, "cooldown_s": -1}, "cooldown_s"),
    ]
    for body, field in bad_rules:
        response = await gateway.post("/v1/rules", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in json.dumps(response.json()["detail"]), response.text
    assert await read_topic(settings, MARKET_TICKS) == []
    assert await read_topic(settings, ALERT_RULES) == []


async def test_rules_round_trip_through_kafka_and_the_projection(
    gateway: httpx.AsyncClient, settings: Settings, user_token: UserToken
) -> None:
    gateway.headers.update(bearer(await user_token("alice")))
    bob = bearer(await user_token("bob"))
    response = await gateway.post("/v1/rules", json=RULE)
    assert response.status_code == 202, response.text
    rule_id = response.json()["rule_id"]
    assert response.json()["type"] == "ixo.alert.rule.created.v1"

    async def listed() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await gateway.get("/v1/rules")).json()
        return found

    rules = await eventually(listed)
    assert [(r["rule_id"], r["condition"]["threshold"]) for r in rules] == [(rule_id, "70000")]
    assert (await gateway.get("/v1/rules", headers=bob)).json() == []
    assert [r["user_id"] for r in rules] == ["alice"]  # from the token
    # Updating: same rule_id, same user.
    update = {**RULE, "rule_id": rule_id, "condition": {"kind": "below", "threshold": "60000"}}
    response = await gateway.post("/v1/rules", json=update)
    assert response.json()["type"] == "ixo.alert.rule.updated.v1"

    async def updated() -> bool:
        return (await listed())[0]["condition"]["kind"] == "below"

    await eventually(updated)
    assert (await gateway.delete(f"/v1/rules/{rule_id}", headers=bob)).status_code == 404
    assert (await gateway.delete(f"/v1/rules/{rule_id}")).status_code == 202

    async def gone() -> bool:
        return await listed() == []

    await eventually(gone)
    assert (await gateway.delete(f"/v1/rules/{rule_id}")).status_code == 404
    types = [json.loads(r.value)["type"] for r in await read_topic(settings, ALERT_RULES)]
    assert types == [
        "ixo.alert.rule.created.v1",
        "ixo.alert.rule.updated.v1",
        "ixo.alert.rule.deleted.v1",
    ]
    assert (await gateway.get("/v1/alerts")).json() == []
    assert (await gateway.get("/v1/alerts", params={"limit": 0})).status_code == 422


async def test_health_metrics_topics_and_openapi(
    gateway: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    health = await gateway.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "kafka": True, "mongodb": True}
    metrics = (await gateway.get("/metrics")).text
    assert 'ixo_gateway_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    topics = (await gateway.get("/v1/topics", headers=operator_headers)).json()
    assert any(t["name"].endswith("ixo.market.ticks") for t in topics)
    assert (await gateway.get("/docs")).status_code == 200
    paths = (await gateway.get("/openapi.json")).json()["paths"]
    assert {"/v1/events", "/v1/rules", "/v1/alerts", "/v1/prices/{symbol}"} <= set(paths)


async def test_chat_is_published_and_its_responses_stream_as_resumable_sse(
    gateway: httpx.AsyncClient, settings: Settings, user_token: UserToken
) -> None:
    gateway.headers.update(bearer(await user_token("alice")))
    from infra.kafka import EventPublisher, make_broker
    from schemas import (
        CHAT_REQUESTS,
        ChatResponseCompletedV1,
        ChatResponseDeltaV1,
    )

    bad = await gateway.post("/v1/chat", json={"text": ""})
    assert bad.status_code == 422
    assert "text" in json.dumps(bad.json()["detail"])
    assert await read_topic(settings, CHAT_REQUESTS) == []

    response = await gateway.post("/v1/chat", json={"text": "price BTC"})
    assert response.status_code == 202
    session_id, request_id = response.json()["session_id"], response.json()["request_id"]
    requests = await read_topic(settings, CHAT_REQUESTS)
    assert [json.loads(r.value)["id"] for r in requests] == [request_id]
    assert json.loads(requests[0].value)["data"]["channel"] == "web"
    assert json.loads(requests[0].value)["data"]["user_id"] == "alice"  # from the token

    producer = make_broker(settings)
    await producer.start()
    events = [
        CloudEvent.new(
            ChatResponseDeltaV1(
                session_id=session_id, request_id=request_id, seq=0, text="BTC is "
            ),
            source="/tests",
        ),
        CloudEvent.new(
            ChatResponseDeltaV1(session_id="other-session", request_id="x", seq=0, text="not mine"),
            source="/tests",
        ),
        CloudEvent.new(
            ChatResponseDeltaV1(
                session_id=session_id, request_id=request_id, seq=1, text="64123.5"
            ),
            source="/tests",
        ),
        CloudEvent.new(
            ChatResponseCompletedV1(
                session_id=session_id, request_id=request_id, text="BTC is 64123.5"
            ),
            source="/tests",
        ),
    ]
    await EventPublisher(producer, settings).publish_many(events)
    await producer.stop()

    url = f"/v1/chat/{session_id}/events"
    got = await asyncio.wait_for(read_sse(gateway, url, 3), timeout=30)
    assert [e["event"] for e in got] == [
        "ixo.chat.response.delta.v1",
        "ixo.chat.response.delta.v1",
        "ixo.chat.response.completed.v1",
    ]
    assert [json.loads(e["data"])["id"] for e in got] == [events[0].id, events[2].id, events[3].id]
    # Reconnecting with Last-Event-ID resumes after that event.
    resumed = await asyncio.wait_for(
        read_sse(gateway, url, 1, headers={"Last-Event-ID": got[1]["id"]}), timeout=30
    )
    assert json.loads(resumed[0]["data"])["id"] == events[3].id
    assert (await gateway.get("/v1/topics/ixo.nope/tail")).status_code == 403  # operators'
    assert (await gateway.get("/v1/chat/never-opened/events")).status_code == 404


async def test_kafka_unavailable_is_503_never_a_silent_202(
    settings: Settings, topics: None, operator_headers: dict[str, str]
) -> None:
    import uvicorn

    from infra.stack.standins import free_port
    from producers.gateway import create_app
    from schemas import CHAT_REQUESTS

    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return server.started

        await eventually(started)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30, headers=operator_headers
        ) as client:
            assert (await client.post("/v1/events", json=tick_event())).status_code == 202
            await app.state.gateway.broker.stop()  # Kafka can no longer take anything
            for path, body in (
                ("/v1/events", tick_event()),
                ("/v1/rules", RULE),
                ("/v1/chat", {"text": "hello"}),
            ):
                response = await client.post(path, json=body)
                assert response.status_code == 503, (path, response.text)
                assert "Kafka" in response.json()["detail"]
            health = await client.get("/healthz")
            assert health.status_code == 503
            assert health.json()["kafka"] is False
    finally:
        server.should_exit = True
        await serving
    assert len(await read_topic(settings, MARKET_TICKS)) == 1
    assert await read_topic(settings, ALERT_RULES) == []
    assert await read_topic(settings, CHAT_REQUESTS) == []
