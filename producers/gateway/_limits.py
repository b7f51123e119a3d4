"""What bounds a caller: the size of a request body, and how many requests per second.

:class:`BodySizeLimit` is a plain ASGI middleware: a ``Content-Length`` over the limit is
answered 413 before the app runs, and a body without one (chunked) is counted as it streams and
refused on the first chunk past the limit; the body is never gathered first to be measured. The
connection is kept: uvicorn discards the rest of a refused body as it arrives (closing at once
would reset the connection, and a client still sending would lose the 413).

:class:`RateLimiter` is a GCRA token bucket in process memory, keyed by a string (the
authenticated principal; until there is one, the client address). :func:`rate_limit` makes it
a FastAPI dependency answering 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Depends, HTTPException, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.settings import Settings
from producers.gateway._metrics import LIMITED

Clock = Callable[[], float]


class BodyTooLarge(HTTPException):
    """The request body is over the limit (raised from ``receive`` while it streams: FastAPI
    lets an ``HTTPException`` from body reading through, and answers it with its JSON)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_detail(limit))


def too_large_detail(limit: int) -> str:
    return f"request body is larger than {limit} bytes"


class BodySizeLimit:
    """Refuses request bodies over ``max_bytes`` with 413 and a short JSON ``detail``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            LIMITED.labels("body_size").inc()
            await self._refuse(send)  # nothing read: the app never runs
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    LIMITED.labels("body_size").inc()
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            # Only when no handler answered it (a route outside FastAPI's request handling).
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps({"detail": too_large_detail(self.max_bytes)})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` when it is a plain number (the server refuses other values)."""
    value = Headers(scope=scope).get("content-length", "")
    if not (value.isascii() and value.isdigit()):
        return None
    return int(value) if len(value) <= 18 else 10**18


class RateLimiter:
    """GCRA (a token bucket kept as one timestamp per key): ``rate_per_s`` requests a second
    sustained, up to ``burst`` at once.

    Each key holds its theoretical arrival time (TAT); a request is allowed when
    ``TAT - burst / rate <= now`` and then moves the TAT on by ``1 / rate``. Keys whose TAT has
    passed hold no credit and are dropped when the table grows past ``max_keys``.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            msg = f"rate_per_s must be > 0 and burst >= 1 (got {rate_per_s}, {burst})"
            raise ValueError(msg)
        self.interval = 1.0 / rate_per_s
        self.tolerance = burst * self.interval
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(settings.gateway_rate_per_s, settings.gateway_burst)

    def acquire(self, key: str) -> float:
        """Take one request for ``key``: 0.0 when allowed, else the seconds to wait before the
        next one would be (nothing is taken then)."""
        now = self.clock()
        tat = max(self._tat.get(key, now), now)
        allowed_at = tat + self.interval - self.tolerance
        if allowed_at > now:
            return allowed_at - now
        if key not in self._tat and len(self._tat) >= self.max_keys:
            self._forget_idle(now)
        self._tat[key] = tat + self.interval
        return 0.0

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, tat in self._tat.items() if tat <= now]
        for k in idle:
            del self._tat[k]
        if len(self._tat) >= self.max_keys:
            # Every key is mid-burst: forget the oldest (it keeps less credit than it had).
            del self._tat[next(iter(self._tat))]

    def __len__(self) -> int:
        return len(self._tat)


def client_address(request: Request) -> str:
    """The rate-limit key until requests carry an identity: the peer address."""
    return f"addr:{request.client.host}" if request.client else "addr:unknown"


def rate_limit(limiter: RateLimiter, key: Callable[..., Any] = client_address) -> Any:
    """A dependency charging one request to ``key`` (itself a dependency returning a string:
    FastAPI resolves its parameters, so it may depend on the authenticated principal) and
    answering 429 with ``Retry-After`` (whole seconds) when over the limit."""

    # A default, not ``Annotated``: ``key`` is local, and annotations are strings here.
    async def limited(principal: str = Depends(key)) -> None:
        charge(limiter, principal)

    return Depends(limited)


def charge(limiter: RateLimiter, key: str) -> None:
    """Take one request for ``key``; over the limit, 429 with ``Retry-After`` (whole seconds).
    (What the gateway's authentication calls once it knows the caller.)"""
    wait = limiter.acquire(key)
    if wait > 0:
        LIMITED.labels("rate").inc()
        retry = max(1, math.ceil(wait))
        raise HTTPException(
            status_code=429,
            detail=f"too many requests: retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )
