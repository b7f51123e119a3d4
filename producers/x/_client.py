"""The X API v2 client: recent search and user timelines, one page per call.

Every request first asks the :class:`RateLimitPlanner` and waits (on the injected clock) as it
says; a 429 is recorded and the same request is sent after the reset. A dropped connection or a
timeout (any transport error) and a 5xx retry the same page after a backoff, so a page is never
skipped. Another 4xx is an :class:`XApiError`. The bearer token is never logged.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Final

import httpx
from pydantic import SecretStr

from producers.x._planner import RateLimitPlanner
from producers.x._types import Clock, Page, Post, Stream

log = logging.getLogger(__name__)

TWEET_FIELDS: Final = "created_at,author_id,public_metrics"
DEFAULT_TIMEOUT: Final = httpx.Timeout(15.0, connect=5.0)
RETRY_INITIAL_S: Final = 1.0
RETRY_MAX_S: Final = 60.0


class XApiError(Exception):
    """X refused a request in a way retrying cannot fix (bad token, bad query, ...)."""


def _post(item: dict[str, Any], usernames: dict[str, str]) -> Post:
    author_id = str(item.get("author_id", ""))
    metrics = item.get("public_metrics") or {}
    return Post(
        id=str(item["id"]),
        text=str(item.get("text", "")),
        author=usernames.get(author_id) or author_id or "unknown",
        created_at=datetime.fromisoformat(str(item["created_at"])),
        metrics={str(k): int(v) for k, v in metrics.items() if isinstance(v, int)},
    )


class XClient:
    """Pages of posts from ``base_url`` (``https://api.x.com`` or a stand-in)."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        clock: Clock,
        planner: RateLimitPlanner | None = None,
        max_results: int = 100,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.clock = clock
        self.planner = planner or RateLimitPlanner()
        self.max_results = max_results
        self.requests = 0
        self.transport_errors = 0
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> XClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def _params(
        self, stream: Stream, since_id: str | None, until_id: str | None, token: str | None
    ) -> dict[str, str]:
        params = {
            "max_results": str(self.max_results),
            "tweet.fields": TWEET_FIELDS,
            "expansions": "author_id",
            "user.fields": "username",
        }
        if stream.kind == "search":
            params["query"] = stream.value
        if since_id is not None:
            params["since_id"] = since_id
        if until_id is not None:
            params["until_id"] = until_id
        if token is not None:
            params["pagination_token" if stream.kind == "timeline" else "next_token"] = token
        return params

    async def page(
        self,
        stream: Stream,
        *,
        since_id: str | None = None,
        until_id: str | None = None,
        next_token: str | None = None,
    ) -> Page:
        """One page of ``stream``'s posts newer than ``since_id`` and older than ``until_id``."""
        params = self._params(stream, since_id, until_id, next_token)
        backoff = RETRY_INITIAL_S
        while True:
            wait = self.planner.wait_s(stream.endpoint, self.clock.time())
            if wait > 0:
                log.info("x: waiting %.1fs for the %s rate-limit window", wait, stream.endpoint)
                await self.clock.sleep(wait)
                continue
            self.requests += 1
            try:
                response = await self._http.get(stream.path, params=params)
                body = response.json() if response.status_code < 500 else None
            except (httpx.TransportError, ValueError) as exc:
                self.transport_errors += 1
                log.warning("x: %s failed (%s); retrying the same page", stream.key, type(exc))
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            self.planner.observe(
                stream.endpoint, response.status_code, response.headers, self.clock.time()
            )
            if response.status_code == 429:
                log.warning("x: 429 on %s; waiting for the reset", stream.endpoint)
                continue
            if response.status_code >= 500:
                log.warning("x: %s answered %d; retrying", stream.key, response.status_code)
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            if response.status_code >= 400:
                msg = f"X refused {stream.key}: HTTP {response.status_code} {str(body)[:300]}"
                raise XApiError(msg)
            return self._parse(body)

    @staticmethod
    def _parse(body: Any) -> Page:
        if not isinstance(body, dict):
            msg = f"X answered a {type(body).__name__}, not an object"
            raise XApiError(msg)
        users = (body.get("includes") or {}).get("users") or []
        usernames = {str(u["id"]): str(u["username"]) for u in users if "username" in u}
        posts = tuple(_post(item, usernames) for item in body.get("data") or [])
        meta = body.get("meta") or {}
        token = meta.get("next_token")
        return Page(posts=posts, next_token=str(token) if token and posts else None)
