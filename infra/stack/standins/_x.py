"""A stand-in X API v2 server: a real HTTP server on 127.0.0.1 serving
``GET /2/tweets/search/recent`` (a post matches a query when the query's text, lower-cased,
is in the post's) and ``GET /2/users/{id}/tweets``, newest first, with ``since_id``,
``until_id``, ``max_results``, ``next_token`` / ``pagination_token``, ``includes.users``
and ``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` headers per endpoint.

Its time is ``clock()`` (epoch seconds; a test passes its fake clock), so windows reset and
request times are recorded on the same clock the client sleeps on. Scripting:
``set_window(endpoint, remaining, reset)``, ``fail_429(endpoint, reset, times)``,
``drop(times)`` (the next answers start and then break off: the client sees a dropped
connection), ``on_request`` (a callback after each answered request). A wrong bearer token
gets 401. Recording: ``requests`` (endpoint, params, status, time).

Usage::

    async with XStandin(clock=clock.time) as x:
        x.add_post("$BTC up", author_id="7")
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from infra.stack.standins._server import LocalServer

DEFAULT_X_TOKEN = "standin-bearer"  # noqa: S105 - the stand-in's own fake token
SEARCH = "/2/tweets/search/recent"
TIMELINE = "/2/users/:id/tweets"
WINDOW_S = 900.0
LIMITS = {SEARCH: 450, TIMELINE: 1500}
FIRST_ID = 1_800_000_000_000_000_000
DROPPED = "x stand-in: connection dropped as scripted"


@dataclass(frozen=True)
class XRequest:
    endpoint: str
    params: dict[str, str]
    status: int
    at: float


@dataclass
class _Window:
    limit: int
    remaining: int
    reset: float


@dataclass
class XStandin:
    token: str = DEFAULT_X_TOKEN
    clock: Callable[[], float] = time.time
    posts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[XRequest] = field(default_factory=list)
    on_request: Callable[[XRequest], None] | None = None
    _windows: dict[str, _Window] = field(default_factory=dict)
    _fail_429: dict[str, list[float]] = field(default_factory=dict)
    _drops: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(FIRST_ID))

    def __post_init__(self) -> None:
        self._fastapi = self._build()

        async def app(
            scope: MutableMapping[str, Any],
            receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
            send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
        ) -> None:
            await self._asgi(scope, receive, send)

        self.server = LocalServer(app, name="x stand-in")

    @property
    def url(self) -> str:
        return self.server.url

    async def __aenter__(self) -> XStandin:
        await self.server.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.server.stop()

    # -- scripting -------------------------------------------------------------------------

    def add_post(self, text: str, *, author_id: str = "1", likes: int = 0) -> str:
        post_id = str(next(self._ids))
        created = datetime(2025, 1, 6, tzinfo=UTC) + timedelta(seconds=len(self.posts))
        self.posts.append(
            {
                "id": post_id,
                "text": text,
                "author_id": author_id,
                "created_at": created.isoformat().replace("+00:00", "Z"),
                "public_metrics": {"like_count": likes, "retweet_count": 0},
            }
        )
        return post_id

    def set_window(self, endpoint: str, remaining: int, reset: float) -> None:
        self._windows[endpoint] = _Window(LIMITS[endpoint], remaining, reset)

    def fail_429(self, endpoint: str, reset: float, times: int = 1) -> None:
        self._fail_429.setdefault(endpoint, []).extend([reset] * times)

    def drop(self, times: int = 1) -> None:
        self._drops += times

    def requests_to(self, endpoint: str) -> list[XRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    # -- serving ---------------------------------------------------------------------------

    async def _asgi(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http" and self._drops > 0:
            self._drops -= 1
            self.requests.append(XRequest("drop", {}, 0, self.clock()))
            # Promise a body, send part of it and fail: uvicorn closes the connection mid-answer
            # (whichever HTTP implementation it runs), so the client sees a dropped connection.
            await send(
                {"type": "http.response.start", "status": 200,
                 "headers": [(b"content-length", b"1000")]}
            )  # fmt: skip
            await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})
            raise ConnectionAbortedError(DROPPED)
        await self._fastapi(scope, receive, send)

    def _window(self, endpoint: str) -> _Window:
        now = self.clock()
        window = self._windows.get(endpoint)
        if window is None or now >= window.reset:
            window = _Window(LIMITS[endpoint], LIMITS[endpoint], now + WINDOW_S)
            self._windows[endpoint] = window
        return window

    def _answer(self, endpoint: str, params: dict[str, str], auth: str | None) -> JSONResponse:
        if auth != f"Bearer {self.token}":
            return self._record(endpoint, params, JSONResponse({"title": "Unauthorized"}, 401))
        window = self._window(endpoint)
        headers = {"x-rate-limit-limit": str(window.limit)}
        pending = self._fail_429.get(endpoint)
        if pending or window.remaining <= 0:
            reset = pending.pop(0) if pending else window.reset
            headers |= {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset))}
            body = {"title": "Too Many Requests", "status": 429}
            return self._record(endpoint, params, JSONResponse(body, 429, headers=headers))
        window.remaining -= 1
        headers |= {
            "x-rate-limit-remaining": str(window.remaining),
            "x-rate-limit-reset": str(int(window.reset)),
        }
        return self._record(endpoint, params, JSONResponse(self._page(params), headers=headers))

    def _record(
        self, endpoint: str, params: dict[str, str], response: JSONResponse
    ) -> JSONResponse:
        request = XRequest(endpoint, params, response.status_code, self.clock())
        self.requests.append(request)
        if self.on_request is not None:
            self.on_request(request)
        return response

    def _page(self, params: dict[str, str]) -> dict[str, Any]:
        query = params.get("query", "").lower()
        user = params.get("user")
        since = int(params.get("since_id") or 0)
        until = int(params.get("until_id") or 1 << 64)
        size = int(params.get("max_results") or 10)
        matching = [
            p
            for p in sorted(self.posts, key=lambda p: int(p["id"]), reverse=True)
            if since < int(p["id"]) < until
            and (p["author_id"] == user if user is not None else query in p["text"].lower())
        ]
        start = int(params.get("next_token") or params.get("pagination_token") or 0)
        chunk = matching[start : start + size]
        meta: dict[str, Any] = {"result_count": len(chunk)}
        if chunk:
            meta |= {"newest_id": chunk[0]["id"], "oldest_id": chunk[-1]["id"]}
        if start + size < len(matching):
            meta["next_token"] = str(start + size)
        authors = sorted({p["author_id"] for p in chunk})
        body: dict[str, Any] = {"meta": meta}
        if chunk:
            body["data"] = chunk
            body["includes"] = {"users": [{"id": a, "username": f"user{a}"} for a in authors]}
        return body

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.get(SEARCH)
        async def search(request: Request) -> Any:
            params = dict(request.query_params)
            return self._answer(SEARCH, params, request.headers.get("authorization"))

        @app.get("/2/users/{user_id}/tweets")
        async def timeline(user_id: str, request: Request) -> Any:
            params = dict(request.query_params) | {"user": user_id}
            return self._answer(TIMELINE, params, request.headers.get("authorization"))

        return app
