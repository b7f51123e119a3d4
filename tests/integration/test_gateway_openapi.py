"""The OpenAPI document tells the truth: walking the served ``/openapi.json``, every operation
documents every error status it can answer, each with its body, so a new route cannot ship
without saying how it is protected and how it fails."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from producers.gateway._auth import PUBLIC as PUBLIC_ROUTES

PUBLIC = {(method.lower(), path) for method, path in PUBLIC_ROUTES}
"""Operations anyone may call (probes, the scraper, signing in)."""
NO_BACKEND = {("get", "/metrics")}
"""Operations that touch neither Kafka nor MongoDB."""
ERROR_BODY = "#/components/schemas/ErrorBody"
# Statuses the fuzzer found answered but undocumented before the document was fixed (issue 11).
FOUND_UNDOCUMENTED = [
    ("delete", "/v1/rules/{rule_id}", "404"),
    ("delete", "/v1/schedules/{schedule_id}", "404"),
    ("delete", "/v1/subscriptions/{subscription_id}", "404"),
    ("get", "/v1/prices/{symbol}", "404"),
    ("get", "/v1/topics/{topic}/tail", "404"),
    ("post", "/v1/rules/backtest", "404"),
    ("post", "/v1/events", "422"),
]

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture
async def document(gateway: httpx.AsyncClient) -> dict[str, Any]:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def operations(doc: dict[str, Any]) -> list[Operation]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def streams(op: dict[str, Any]) -> bool:
    """An SSE stream: once its 200 is sent, a broker failure ends the stream, not the status."""
    ok = op["responses"].get("200", {})
    return "text/event-stream" in ok.get("content", {})


def expected_statuses(method: str, path: str, op: dict[str, Any]) -> set[str]:
    expected = {"429"}
    if (method, path) not in PUBLIC:
        expected |= {"401", "403"}
    if "requestBody" in op:
        expected |= {"413", "422"}
    if op.get("parameters"):
        expected.add("422")
    if (method, path) not in NO_BACKEND and not streams(op):
        expected.add("503")
    return expected


def test_every_operation_documents_the_statuses_it_can_answer(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert len(ops) >= 19  # the walk saw the routes (a broken walk would pass vacuously)
    missing = {
        f"{method.upper()} {path}": sorted(
            expected_statuses(method, path, op) - set(op["responses"])
        )
        for method, path, op in ops
    }
    assert {k: v for k, v in missing.items() if v} == {}


def test_the_statuses_a_fuzzer_found_undocumented_are_documented(
    document: dict[str, Any],
) -> None:
    for method, path, status in FOUND_UNDOCUMENTED:
        assert status in document["paths"][path][method]["responses"], (method, path, status)


def test_every_error_status_has_its_body_and_429_says_when_to_retry(
    document: dict[str, Any],
) -> None:
    for method, path, op in operations(document):
        for status, response in op["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            schema = response["content"]["application/json"]["schema"]
            if (method, path, status) == ("get", "/healthz", "503"):
                assert schema == {"$ref": "#/components/schemas/Health"}
                continue
            assert schema == {"$ref": ERROR_BODY}, (method, path, status, schema)
            assert response["description"], (method, path, status)
        retry_after = op["responses"]["429"]["headers"]["Retry-After"]
        assert retry_after["schema"]["type"] == "integer"
    error_body = document["components"]["schemas"]["ErrorBody"]
    assert error_body["required"] == ["detail"]
    item = document["components"]["schemas"]["ErrorItem"]
    assert set(item["properties"]) == {"loc", "msg", "type"}  # never the input
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_raw_events_document_their_body(document: dict[str, Any]) -> None:
    """``POST /v1/events`` reads its raw body: the document still says what it takes."""
    body = document["paths"]["/v1/events"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert "ixo.market.tick.v1" in schema["properties"]["type"]["enum"]
    assert {"id", "type", "source", "subject", "data"} <= set(schema["required"])


def test_metrics_are_documented_as_text(document: dict[str, Any]) -> None:
    ok = document["paths"]["/metrics"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"text/plain"}


async def test_what_the_fuzzer_found_answers_as_documented(
    gateway: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    """Regressions of the fuzzer's findings (each was a 500 or an undocumented 400)."""
    rule = {"symbol": "BTCUSDT", "condition": {"kind": "above", "threshold": "1"}}
    cases: list[tuple[str, bytes, int]] = [
        # A type that is not a string (was a 500: unhashable).
        ("/v1/events", b'{"type": {}, "data": {}}', 422),
        ("/v1/events", b'{"type": ["ixo.market.tick.v1"]}', 422),
        # Bytes that are not UTF-8 (FastAPI's 400 "error parsing the body").
        ("/v1/rules", b"\xff\xfe\x00{", 422),
        # Before Kafka's epoch (was a 500: negative timestamps are refused by the client).
        ("/v1/rules/backtest", orjson.dumps({"rule": rule, "since": "1105-06-13T22:15:23Z"}), 422),
        ("/v1/rules/backtest", orjson.dumps({"rule": rule, "since": "1970-01-01T00:01:00Z"}), 200),
    ]
    for path, body, status in cases:
        response = await gateway.post(
            path, content=body, headers={"content-type": "application/json", **operator_headers}
        )
        assert response.status_code == status, (path, body, response.text)
        if status == 422:
            assert response.json()["detail"][0]["loc"][0] == "body", response.text
