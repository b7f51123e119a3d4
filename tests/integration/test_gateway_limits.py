"""The gateway bounds what a caller sends and what it echoes: body size (413), error bodies that
never carry the input back (422), and a rate limit per caller (429 with ``Retry-After``); on a
real uvicorn against the real stack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
from prometheus_client import CollectorRegistry

from infra.settings import Settings
from infra.stack.standins import LocalServer
from producers.gateway import create_app
from producers.gateway._metrics import REGISTRY
from schemas import ALERT_RULES, MARKET_TICKS
from tests._kafka import read_topic

MIB = 1024 * 1024
TICK_EVENT = {
    "specversion": "1.0",
    "id": "0190b2c4-5c1e-7000-8000-000000000001",
    "type": "ixo.market.tick.v1",
    "source": "/tests",
    "time": "2026-11-24T10:00:00Z",
    "subject": "BTCUSDT",
    "data": {"symbol": "BTCUSDT", "price": "1", "venue": "t", "ts": "2026-11-24T10:00:00Z"},
}
RULE = {
    "symbol": "BTCUSDT",
    "condition": {"kind": "above", "threshold": "70000"},
}


def limited_count(limit: str, registry: CollectorRegistry = REGISTRY) -> float:
    value = registry.get_sample_value("ixo_gateway_limited_total", {"limit": limit})
    return value or 0.0


async def test_a_declared_10_mb_body_is_refused_before_it_is_sent(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    """Only the headers are sent: a server that waited for the body would never answer."""
    url = urlsplit(str(gateway.base_url))
    assert url.hostname is not None
    assert url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            b"POST /v1/events HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % (10 * MIB)
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = dict(h.lower().split(": ", 1) for h in header_lines if h)
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 30)
    finally:
        writer.close()
    assert status_line.startswith("HTTP/1.1 413 "), status_line
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": f"request body is larger than {MIB} bytes"}
    assert await read_topic(settings, MARKET_TICKS) == []


async def test_10_mb_bodies_get_413_and_nothing_is_published(
    gateway: httpx.AsyncClient, settings: Settings, operator_headers: dict[str, str]
) -> None:
    before = limited_count("body_size")
    padded = {**TICK_EVENT, "data": {**TICK_EVENT["data"], "venue": "v" * (10 * MIB)}}
    response = await gateway.post("/v1/events", json=padded, headers=operator_headers)
    assert response.status_code == 413, response.text[:200]
    assert response.json() == {"detail": f"request body is larger than {MIB} bytes"}

    # Without Content-Length (chunked): counted as it streams, refused past the limit.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"symbol": "'
        for _ in range(160):  # 10 MiB
            yield b"x" * (64 * 1024)
        yield b'"}'

    response = await gateway.post(
        "/v1/rules",
        content=chunks(),
        headers={"content-type": "application/json", **operator_headers},
    )
    assert response.status_code == 413, response.text[:200]
    assert response.json()["detail"] == f"request body is larger than {MIB} bytes"
    assert limited_count("body_size") == before + 2
    assert await read_topic(settings, MARKET_TICKS) == []
    assert await read_topic(settings, ALERT_RULES) == []


async def test_a_body_just_under_the_limit_is_read(
    gateway: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    """The limit refuses what is over it, not what is near it: 422 (the venue is too long for
    the contract), not 413."""
    padded = {**TICK_EVENT, "data": {**TICK_EVENT["data"], "venue": "v" * (MIB - 1000)}}
    response = await gateway.post("/v1/events", json=padded, headers=operator_headers)
    assert response.status_code == 422, response.text[:300]


async def test_422_names_the_field_but_never_echoes_a_900_kb_value(
    gateway: httpx.AsyncClient, settings: Settings, operator_headers: dict[str, str]
) -> None:
    huge = "x" * 900_000
    cases: list[tuple[str, dict[str, object], str]] = [
        ("/v1/rules", {**RULE, "symbol": huge}, "symbol"),  # FastAPI's request validation
        ("/v1/rules", {**RULE, huge: 1}, huge[:50]),  # an unknown key: the key is the input
        ("/v1/events", {**TICK_EVENT, "type": huge}, "type"),  # our InvalidEvent messages
        ("/v1/events", {**TICK_EVENT, "subject": huge}, "subject"),
        ("/v1/chat", {"text": huge}, "text"),
    ]
    for path, body, field in cases:
        response = await gateway.post(path, json=body, headers=operator_headers)
        assert response.status_code == 422, (path, field[:20], response.text[:300])
        assert len(response.content) < 4096, (path, field[:20], len(response.content))
        details = response.json()["detail"]
        assert isinstance(details, list)
        assert all(set(d) == {"loc", "msg", "type"} for d in details), details
        assert any(field in str(d["loc"]) for d in details), (path, details)
    assert await read_topic(settings, MARKET_TICKS) == []
    assert await read_topic(settings, ALERT_RULES) == []


async def test_over_the_rate_a_caller_gets_429_with_retry_after(
    settings: Settings, topics: None
) -> None:
    slow = settings.model_copy(update={"gateway_rate_per_s": 0.01, "gateway_burst": 3})
    before = limited_count("rate")
    async with (
        LocalServer(create_app(slow), lifespan="on", name="gateway") as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        allowed = [await client.get("/healthz") for _ in range(3)]
        assert [r.status_code for r in allowed] == [200, 200, 200], [r.text for r in allowed]
        # The same (anonymous) caller, on routes of the app and of an included router alike:
        # the limit is charged before authentication, so a flood of bad tokens is limited too.
        for path in ("/v1/schedules", "/healthz", "/v1/events"):
            response = await client.request("POST" if path == "/v1/events" else "GET", path)
            assert response.status_code == 429, (path, response.text)
            retry = int(response.headers["retry-after"])
            assert 1 <= retry <= 100  # one request's worth at 0.01/s
            assert response.json()["detail"] == f"too many requests: retry in {retry} s"
    assert limited_count("rate") == before + 3
