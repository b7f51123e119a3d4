"""Who may call what: walking the served ``/openapi.json``, every route but the allow-list
needs credentials, another user's resources answer 404, a user token on an operator route
answers 403, and none of those writes anything; signing in with a password gives a cookie
session whose writes need the CSRF header."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from infra.kafka import describe_topics
from infra.settings import Settings
from infra.stack.standins import LocalServer
from producers.gateway import create_app
from services import IdentityService
from tests._kafka import eventually
from tests.fakes import WebhookReceiver
from tests.integration.conftest import UserToken, bearer

ALLOWED = {("get", "/healthz"), ("get", "/metrics"), ("post", "/v1/auth/login")}
"""What anyone may call: decision 0110 (a test fails when a new route joins it unprotected)."""
OPERATOR_ONLY = {
    ("post", "/v1/events"),
    ("get", "/v1/topics"),
    ("get", "/v1/topics/{topic}/tail"),
    ("post", "/v1/users"),
}
NOT_OWNED = {
    ("get", "/v1/prices/{symbol}"),
    ("get", "/v1/topics/{topic}/tail"),
    # The operator routes (a user gets 403: tests/integration/test_ops_api.py).
    ("get", "/v1/trace/{correlation_id}"),
    ("get", "/v1/ops/dlq/{topic}/records"),
    ("post", "/v1/ops/dlq/{topic}/requeue"),
    ("post", "/v1/ops/replay/{projection}"),
    ("get", "/v1/ops/replay/{replay_id}"),
    ("get", "/asyncapi/{component}"),
}
"""Routes with a path parameter that names nothing of a user's."""
RULE = {"symbol": "BTCUSDT", "condition": {"kind": "above", "threshold": "70000"}}
SCHEDULE = {"task": "alert_digest", "every_s": 3600}
PASSWORD = "correct horse battery"

Operation = tuple[str, str]


@pytest.fixture
async def document(gateway: httpx.AsyncClient) -> dict[str, Any]:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def operations(doc: dict[str, Any]) -> list[Operation]:
    ops = [
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(ops) >= 25, ops  # the walk saw the routes (a broken walk would pass vacuously)
    return ops


def fill(path: str, values: dict[str, str] | None = None) -> str:
    """The path with each ``{param}`` replaced (by ``values[param]``, else ``x``)."""
    return re.sub(r"\{(\w+)\}", lambda m: (values or {}).get(m.group(1), "x"), path)


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> httpx.Response:
    """One request; an SSE route is closed as soon as its status is known."""
    kwargs: dict[str, Any] = {"headers": headers or {}}
    if method in {"post", "put", "patch"}:
        kwargs["json"] = {} if body is None else body
    async with client.stream(method.upper(), path, **kwargs) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            await response.aread()
        return response


async def end_offsets(settings: Settings) -> dict[str, dict[int, int]]:
    return {t.name: t.end_offsets for t in await describe_topics(settings)}


async def test_every_route_but_the_allow_list_needs_credentials_and_writes_nothing(
    gateway: httpx.AsyncClient, document: dict[str, Any], settings: Settings
) -> None:
    before = await end_offsets(settings)
    assert before  # the topics exist: a comparison of nothing would pass vacuously
    answered: dict[Operation, int] = {}
    for method, path in operations(document):
        for headers in (
            {},
            bearer("ixo_not-a-token"),
            {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
            {"Cookie": "ixo_session=forged"},
        ):
            response = await call(gateway, method, fill(path), headers)
            if (method, path) in ALLOWED:
                assert response.status_code != 401, (method, path, response.text)
                continue
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            answered[(method, path)] = response.status_code
    public = {op for op in operations(document) if op not in answered}
    assert public == ALLOWED
    # The document says so: every other operation lists both ways to authenticate.
    for method, path in operations(document):
        security = document["paths"][path][method].get("security")
        if (method, path) in ALLOWED:
            assert not security, (method, path)
        else:
            assert security == [{"bearer": []}, {"session": []}], (method, path, security)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "ixo_session")
    for free in ("/docs", "/openapi.json"):
        assert (await gateway.get(free)).status_code == 200
    assert await end_offsets(settings) == before


async def test_another_user_s_resources_answer_404_and_nothing_is_written(
    gateway: httpx.AsyncClient,
    document: dict[str, Any],
    settings: Settings,
    user_token: UserToken,
    receiver: WebhookReceiver,
) -> None:
    alice = bearer(await user_token("alice"))
    bob = bearer(await user_token("bob"))
    rule = await gateway.post("/v1/rules", json=RULE, headers=alice)
    schedule = await gateway.post("/v1/schedules", json=SCHEDULE, headers=alice)
    subscription = await gateway.post(
        "/v1/subscriptions",
        json={"url": receiver.url("a"), "event_types": ["ixo.alert.triggered.v1"]},
        headers=alice,
    )
    chat = await gateway.post("/v1/chat", json={"text": "hello"}, headers=alice)
    token = await gateway.post("/v1/tokens", json={"name": "second"}, headers=alice)
    for made in (rule, schedule, subscription, chat):
        assert made.status_code == 202, made.text
    assert token.status_code == 201, token.text
    ids = {
        "rule_id": rule.json()["rule_id"],
        "schedule_id": schedule.json()["schedule_id"],
        "subscription_id": subscription.json()["subscription_id"],
        "session_id": chat.json()["session_id"],
        "token_id": token.json()["token_id"],
    }

    async def projected() -> bool:
        lists = [
            (await gateway.get(f"/v1/{kind}", headers=alice)).json()
            for kind in ("rules", "schedules", "subscriptions")
        ]
        return all(len(found) == 1 for found in lists)

    await eventually(projected)
    before = await end_offsets(settings)
    # Every route naming a resource by id, with Bob's token on Alice's resource.
    by_id = {(m, p) for m, p in operations(document) if "{" in p and (m, p) not in NOT_OWNED}
    checked: set[Operation] = set()
    for method, path in sorted(by_id):
        response = await call(gateway, method, fill(path, ids), bob)
        assert response.status_code == 404, (method, path, response.text)
        checked.add((method, path))
    assert checked == by_id
    # Bodies naming Alice's resources.
    for path, body in (
        ("/v1/rules", {**RULE, "rule_id": ids["rule_id"]}),
        ("/v1/rules/backtest", {"rule_id": ids["rule_id"], "since": "2026-01-01T00:00:00Z"}),
        ("/v1/schedules", {**SCHEDULE, "schedule_id": ids["schedule_id"]}),
        ("/v1/schedules", {**SCHEDULE, "channel": "web", "chat_id": ids["session_id"]}),
        ("/v1/chat", {"text": "let me in", "session_id": ids["session_id"]}),
    ):
        response = await gateway.post(path, json=body, headers=bob)
        assert response.status_code == 404, (path, body, response.text)
    # Lists are the caller's own.
    for kind in ("rules", "schedules", "subscriptions", "alerts"):
        assert (await gateway.get(f"/v1/{kind}", headers=bob)).json() == [], kind
    tokens = (await gateway.get("/v1/tokens", headers=bob)).json()
    assert {t["user_id"] for t in tokens} == {"bob"}
    # The owner and the body cannot be chosen: user_id / owner in a body is refused.
    for path, body in (
        ("/v1/rules", {**RULE, "user_id": "alice"}),
        ("/v1/schedules", {**SCHEDULE, "user_id": "alice"}),
        ("/v1/chat", {"text": "hi", "user_id": "alice"}),
        ("/v1/subscriptions", {"url": receiver.url("a"), "event_types": ["x"], "owner": "alice"}),
    ):
        response = await gateway.post(path, json=body, headers=bob)
        assert response.status_code == 422, (path, response.text)
        assert "user_id" in response.text or "owner" in response.text
    assert await end_offsets(settings) == before
    # Alice still has all of it.
    assert await projected()
    assert (await gateway.get("/v1/tokens", headers=alice)).status_code == 200


async def test_user_tokens_get_403_on_operator_routes_and_nothing_is_written(
    gateway: httpx.AsyncClient,
    document: dict[str, Any],
    settings: Settings,
    user_token: UserToken,
    operator_headers: dict[str, str],
    receiver: WebhookReceiver,
) -> None:
    alice = bearer(await user_token("alice"))
    assert set(operations(document)) >= OPERATOR_ONLY
    before = await end_offsets(settings)
    for method, path in sorted(OPERATOR_ONLY):
        response = await call(gateway, method, fill(path, {"topic": "ixo.market.ticks"}), alice)
        assert response.status_code == 403, (method, path, response.text)
    for path, body in (
        (
            "/v1/subscriptions",
            {
                "url": receiver.url("a"),
                "event_types": ["ixo.alert.triggered.v1"],
                "all_users": True,
            },
        ),
        ("/v1/tokens", {"scopes": ["operator"]}),
        ("/v1/tokens", {"user_id": "ops"}),
    ):
        response = await gateway.post(path, json=body, headers=alice)
        assert response.status_code == 403, (path, response.text)
    listed = await gateway.get("/v1/tokens", params={"user_id": "ops"}, headers=alice)
    assert listed.status_code == 403
    assert await end_offsets(settings) == before
    # The operator may.
    topics = await gateway.get("/v1/topics", headers=operator_headers)
    assert topics.status_code == 200
    made = await gateway.post(
        "/v1/users",
        json={"user_id": "carol", "display_name": "Carol", "password": PASSWORD},
        headers=operator_headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["user_id"] == "carol"
    again = await gateway.post("/v1/users", json={"user_id": "carol"}, headers=operator_headers)
    assert again.status_code == 409
    signed_in = await gateway.post(
        "/v1/auth/login", json={"user_id": "carol", "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    everyone = await gateway.get("/v1/tokens", headers=operator_headers)
    assert {"alice", "ops"} <= {t["user_id"] for t in everyone.json()}


def cookies_of(response: httpx.Response) -> dict[str, str]:
    """Each ``Set-Cookie`` by name, as sent (attributes and all)."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


async def test_a_password_opens_a_cookie_session_whose_writes_need_the_csrf_header(
    gateway: httpx.AsyncClient, identity: IdentityService, settings: Settings
) -> None:
    await identity.create_user("dora")
    await identity.set_password("dora", PASSWORD)
    wrong = await gateway.post("/v1/auth/login", json={"user_id": "dora", "password": "nope"})
    unknown = await gateway.post("/v1/auth/login", json={"user_id": "nobody", "password": "x"})
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert wrong.json() == unknown.json()  # no oracle of who exists
    assert "set-cookie" not in wrong.headers

    response = await gateway.post("/v1/auth/login", json={"user_id": "dora", "password": PASSWORD})
    assert response.status_code == 200, response.text
    csrf = response.json()["csrf_token"]
    assert response.json()["user_id"] == "dora"
    sent = cookies_of(response)
    session = sent["ixo_session"].split(";")[0].split("=", 1)[1]
    for name in ("ixo_session", "ixo_csrf"):
        attributes = sent[name].lower()
        for expected in ("max-age=43200", "path=/", "samesite=lax", "secure"):
            assert expected in attributes, (name, attributes)
    assert "httponly" in sent["ixo_session"].lower()
    assert "httponly" not in sent["ixo_csrf"].lower()  # the web app reads it
    assert sent["ixo_csrf"].split(";")[0] == f"ixo_csrf={csrf}"
    cookie = {"Cookie": f"ixo_session={session}; ixo_csrf={csrf}"}

    me = await gateway.get("/v1/me", headers=cookie)
    assert me.status_code == 200
    assert me.json() == {
        "user_id": "dora",
        "display_name": "",
        "scopes": ["user"],
        "via": "session",
        "identities": [],
    }
    before = await end_offsets(settings)
    for headers in (cookie, {**cookie, "X-CSRF-Token": "forged"}):
        refused = await gateway.post("/v1/rules", json=RULE, headers=headers)
        assert refused.status_code == 403, refused.text
        assert "X-CSRF-Token" in refused.json()["detail"]
    assert await end_offsets(settings) == before
    with_csrf = {**cookie, "X-CSRF-Token": csrf}
    written = await gateway.post("/v1/rules", json=RULE, headers=with_csrf)
    assert written.status_code == 202, written.text
    code = await gateway.post("/v1/me/link-codes", headers=with_csrf)
    assert code.status_code == 201
    assert len(code.json()["code"]) == 8

    assert (await gateway.post("/v1/auth/logout", headers=cookie)).status_code == 403
    out = await gateway.post("/v1/auth/logout", headers=with_csrf)
    assert out.status_code == 204
    cleared = cookies_of(out)
    assert set(cleared) == {"ixo_session", "ixo_csrf"}
    assert all("max-age=0" in c.lower() for c in cleared.values())
    assert (await gateway.get("/v1/me", headers=cookie)).status_code == 401


async def test_five_failed_sign_ins_make_the_user_wait(
    gateway: httpx.AsyncClient, identity: IdentityService
) -> None:
    await identity.create_user("erin")
    await identity.set_password("erin", PASSWORD)
    attempt = {"user_id": "erin", "password": "wrong password"}
    statuses = [(await gateway.post("/v1/auth/login", json=attempt)).status_code for _ in range(5)]
    assert statuses == [401] * 5
    for body in (attempt, {**attempt, "password": PASSWORD}):  # even the right one waits
        waiting = await gateway.post("/v1/auth/login", json=body)
        assert waiting.status_code == 429, waiting.text
        assert 1 <= int(waiting.headers["retry-after"]) <= 900


async def test_tokens_are_shown_once_listed_without_values_and_revocable(
    gateway: httpx.AsyncClient, user_token: UserToken
) -> None:
    alice = bearer(await user_token("alice"))
    made = await gateway.post("/v1/tokens", json={"name": "laptop"}, headers=alice)
    assert made.status_code == 201
    token, token_id = made.json()["token"], made.json()["token_id"]
    assert made.json()["scopes"] == ["user"]
    assert (await gateway.get("/v1/me", headers=bearer(token))).json()["user_id"] == "alice"
    listed = (await gateway.get("/v1/tokens", headers=alice)).text
    assert token_id in listed
    assert token not in listed
    revoked = await gateway.delete(f"/v1/tokens/{token_id}", headers=alice)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert (await gateway.get("/v1/me", headers=bearer(token))).status_code == 401


async def test_the_rate_limit_is_per_token(
    settings: Settings, topics: None, user_token: UserToken
) -> None:
    slow = settings.model_copy(update={"gateway_rate_per_s": 0.01, "gateway_burst": 2})
    first, second = bearer(await user_token("alice")), bearer(await user_token("bob"))
    async with (
        LocalServer(create_app(slow), lifespan="on", name="gateway") as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        statuses = [(await client.get("/v1/me", headers=first)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        # The same address, another token: its own budget.
        assert (await client.get("/v1/me", headers=second)).status_code == 200
