"""The operator routes on the real gateway and projector (``gateway`` fixture): trace, lag, dead
letters and their requeue (dry run first, recorded on the ledger, once), replays in the
background, the AsyncAPI documents; operator scope on every one of them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from consumers.projector.app import trace_index
from infra.kafka import EventPublisher, record_headers
from infra.settings import Settings
from schemas import (
    CHAT_REQUESTS,
    DLQ_REQUEUES,
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_GROUP,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    MARKET_TICKS,
    ChatMessageReceivedV1,
    CloudEvent,
    MarketTickV1,
    encode,
)
from tests._kafka import eventually, headers_of, read_topic
from tests.integration.conftest import UserToken, bearer

ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/trace/c-1", None),
    ("GET", "/v1/ops/lag", None),
    ("GET", "/v1/ops/dlq", None),
    ("GET", "/v1/ops/dlq/ixo.market.ticks/records", None),
    ("POST", "/v1/ops/dlq/ixo.market.ticks/requeue", {"dry_run": True}),
    ("POST", "/v1/ops/replay/prices", {}),
    ("GET", "/v1/ops/replay/r-1", None),
    ("GET", "/asyncapi", None),
    ("GET", "/asyncapi/projector", None),
]


@pytest.fixture
async def trace_cleanup(settings: Settings) -> Any:
    yield
    client = Redis.from_url(settings.redis_url)
    await trace_index(settings, client).clear()
    await client.aclose()


async def test_every_ops_route_needs_the_operator_scope(
    gateway: httpx.AsyncClient, user_token: UserToken
) -> None:
    user = bearer(await user_token("alice"))
    for method, path, body in ROUTES:
        anonymous = await gateway.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        refused = await gateway.request(method, path, json=body, headers=user)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["detail"] == "this needs the operator scope"


async def test_trace_and_lag_of_a_chat_request(
    gateway: httpx.AsyncClient,
    operator_headers: dict[str, str],
    settings: Settings,
    trace_cleanup: None,
) -> None:
    sent = await gateway.post("/v1/chat", json={"text": "price BTC"}, headers=operator_headers)
    assert sent.status_code == 202, sent.text
    request_id = sent.json()["request_id"]

    async def traced() -> dict[str, Any] | None:
        found = await gateway.get(f"/v1/trace/{request_id}", headers=operator_headers)
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body if body["events"] else None

    trace = await eventually(traced, timeout=60)
    assert trace["correlation_id"] == request_id
    (event,) = trace["events"]
    assert event["topic"] == "ixo.chat.requests"
    assert (event["id"], event["type"]) == (request_id, "ixo.chat.message.received.v1")
    assert {"time", "partition", "offset", "subject", "source"} <= set(event)

    async def lag_rows() -> list[dict[str, Any]]:
        found = await gateway.get("/v1/ops/lag", headers=operator_headers)
        assert found.status_code == 200, found.text
        rows: list[dict[str, Any]] = found.json()
        trace_group = settings.group("ixo.projector.trace")
        chat = CHAT_REQUESTS.full_name(settings.topic_prefix)
        mine = [r for r in rows if r["group"] == trace_group and r["topic"] == chat]
        return mine if sum(r["end"] for r in mine) >= 1 and all(r["lag"] == 0 for r in mine) else []

    rows = await eventually(lag_rows, timeout=60)
    assert set(rows[0]) == {"group", "topic", "partition", "committed", "end", "lag", "lag_s"}
    assert all(r["lag_s"] == 0.0 for r in rows)
    one = await gateway.get(
        "/v1/ops/lag", params={"group": "projector.trace"}, headers=operator_headers
    )
    assert one.status_code == 200
    assert {r["group"] for r in one.json()} == {settings.group("ixo.projector.trace")}

    unknown = await gateway.get("/v1/ops/lag", params={"group": "nope"}, headers=operator_headers)
    assert unknown.status_code == 404
    nothing = await gateway.get("/v1/trace/never-seen", headers=operator_headers)
    assert nothing.json() == {
        "correlation_id": "never-seen",
        "total": 0,
        "truncated": False,
        "events": [],
    }
    bad = await gateway.get(f"/v1/trace/{request_id}?limit=0", headers=operator_headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "limit"]
    too_long = await gateway.get("/v1/trace/" + "x" * 201, headers=operator_headers)
    assert too_long.status_code == 422


async def test_dead_letters_are_listed_by_error_and_requeued_once_after_a_dry_run(
    gateway: httpx.AsyncClient,
    operator_headers: dict[str, str],
    settings: Settings,
    publisher: EventPublisher,
) -> None:
    """A chat request the orchestrator failed on, as its dead letter: shown grouped by error,
    a dry run republishes nothing, the requeue republishes it once for that group only and
    records who did it."""
    request = CloudEvent.new(
        ChatMessageReceivedV1(session_id="s-dlq", user_id="alice", channel="web", text="hi"),
        source="/tests",
    )
    source = CHAT_REQUESTS.full_name(settings.topic_prefix)
    group = settings.group("ixo.orchestrator")
    headers = {
        **record_headers(request),
        HEADER_ERROR: "RuntimeError: the model crashed",
        HEADER_ERROR_TYPE: "handler_failed",
        HEADER_SOURCE_TOPIC: source,
        HEADER_SOURCE_PARTITION: "0",
        HEADER_SOURCE_OFFSET: "7",
        HEADER_GROUP: group,
    }
    dlq = CHAT_REQUESTS.dlq.full_name(settings.topic_prefix)
    await (await publisher.send_raw(dlq, encode(request), key="s-dlq", headers=headers))

    listed = await gateway.get("/v1/ops/dlq", headers=operator_headers)
    assert listed.status_code == 200, listed.text
    (entry,) = [d for d in listed.json() if d["name"] == dlq]
    assert (entry["source"], entry["messages"]) == (source, 1)
    (errors,) = entry["errors"]
    assert (errors["error_type"], errors["count"], errors["groups"]) == (
        "handler_failed",
        1,
        {group: 1},
    )
    assert errors["examples"][0]["id"] == request.id

    records = await gateway.get(
        f"/v1/ops/dlq/{CHAT_REQUESTS.name}/records", params={"limit": 10}, headers=operator_headers
    )
    assert records.status_code == 200
    (record,) = records.json()
    assert (record["error_type"], record["source_topic"]) == ("handler_failed", source)
    assert record["value"]["id"] == request.id

    before = len(await read_topic(settings, CHAT_REQUESTS))
    url = f"/v1/ops/dlq/{dlq}/requeue"
    dry = await gateway.post(url, json={"dry_run": True}, headers=operator_headers)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["dry_run"], dry.json()["requeued"], dry.json()["by_group"]) == (
        True,
        1,
        {group: 1},
    )
    assert len(await read_topic(settings, CHAT_REQUESTS)) == before  # nothing sent

    done = await gateway.post(url, json={"dry_run": False, "limit": 5}, headers=operator_headers)
    assert done.status_code == 200, done.text
    assert (done.json()["requeued"], done.json()["records"][0]["id"]) == (1, request.id)
    again = await gateway.post(url, json={"dry_run": False}, headers=operator_headers)
    assert again.json()["requeued"] == 0

    copies = [r for r in await read_topic(settings, CHAT_REQUESTS) if r.key == b"s-dlq"]
    assert len(copies) == 1
    assert headers_of(copies[0])["ixo-requeued-for"] == group
    (ledger,) = await read_topic(settings, DLQ_REQUEUES)
    assert b'"by":"gateway:ops"' in ledger.value

    for body, field in (({"dry_run": True, "limit": 0}, "limit"), ({"dry_run": "x"}, "dry_run")):
        bad = await gateway.post(url, json=body, headers=operator_headers)
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", field]
    extra = await gateway.post(url, json={"dry_run": True, "all": True}, headers=operator_headers)
    assert extra.status_code == 422
    unknown = await gateway.post(
        "/v1/ops/dlq/ixo.nope/requeue", json={"dry_run": True}, headers=operator_headers
    )
    assert unknown.status_code == 404


async def test_a_replay_runs_in_the_background_and_reports_its_progress(
    gateway: httpx.AsyncClient,
    operator_headers: dict[str, str],
    publisher: EventPublisher,
) -> None:
    ticks = [
        CloudEvent.new(
            MarketTickV1(symbol=s, price=Decimal("10.5"), venue="test", ts="2026-01-01T00:00:00Z"),
            source="/tests",
        )
        for s in ("BTCUSDT", "ETHUSDT")
    ]
    await publisher.publish_many(ticks)
    started = await gateway.post("/v1/ops/replay/prices", headers=operator_headers)
    assert started.status_code == 202, started.text
    job = started.json()
    assert (job["projection"], job["by"]) == ("prices", "ops")
    assert job["state"] in {"running", "done"}

    async def finished() -> dict[str, Any] | None:
        found = await gateway.get(f"/v1/ops/replay/{job['replay_id']}", headers=operator_headers)
        assert found.status_code == 200
        body: dict[str, Any] = found.json()
        return body if body["state"] != "running" else None

    done = await eventually(finished, timeout=60)
    assert done["state"] == "done", done
    assert (done["records"], done["error"]) == (len(ticks), None)
    assert done["finished_at"] >= done["started_at"]
    assert done["result"]["swapped"] is True
    price = await gateway.get("/v1/prices/ETHUSDT", headers=operator_headers)
    assert price.json()["price"] == "10.5"

    assert (await gateway.post("/v1/ops/replay/nope", headers=operator_headers)).status_code == 404
    assert (await gateway.get("/v1/ops/replay/nope", headers=operator_headers)).status_code == 404
    since = await gateway.post(
        "/v1/ops/replay/prices", json={"since": "2020-01-01"}, headers=operator_headers
    )
    assert since.status_code == 422  # not an aware time
    assert since.json()["detail"][0]["loc"] == ["body", "since"]


async def test_asyncapi_documents_every_consumer_app(
    gateway: httpx.AsyncClient, operator_headers: dict[str, str], settings: Settings
) -> None:
    merged = await gateway.get("/asyncapi", headers=operator_headers)
    assert merged.status_code == 200
    doc = merged.json()
    assert doc["asyncapi"].startswith("3.")
    assert {"projector", "rule_engine", "notifier", "orchestrator"} <= set(doc["x-components"])
    addresses = {c["address"] for c in doc["channels"].values()}
    assert MARKET_TICKS.full_name(settings.topic_prefix) in addresses
    assert all(a.startswith(settings.topic_prefix) for a in addresses)
    one = await gateway.get("/asyncapi/rule-engine", headers=operator_headers)
    assert one.status_code == 200
    assert set(one.json()["channels"]) < set(doc["channels"])
    assert (await gateway.get("/asyncapi/nope", headers=operator_headers)).status_code == 404
