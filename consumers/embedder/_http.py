"""The embedder's search server and its client: the HTTP adapter of :class:`KnowledgeSearch`
(decision 0126).

A local Qdrant store is a folder one process may open, so the embedder owns it and answers on
loopback (``IXO_EMBEDDER_HOST``/``IXO_EMBEDDER_PORT``): ``POST /v1/search``, ``GET /v1/status``
and ``POST /v1/replay`` (progress streamed as NDJSON). Every route needs
``Authorization: Bearer <token>``, a token derived from the server's secrets key that every
process of the deployment can derive and nobody else can; it is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from consumers.embedder._replay import Progress, ReplayReport
from consumers.embedder._types import (
    KnowledgeHit,
    KnowledgeSearch,
    KnowledgeSource,
    KnowledgeUnavailable,
    ReplayFailed,
    SearchFilters,
)

log = logging.getLogger(__name__)

StatusFn = Callable[[], Awaitable[dict[str, object]]]
ReplayFn = Callable[[bool, bool, Progress], Awaitable[ReplayReport]]
"""(force, drop_old, progress) -> the report; raises :class:`ReplayFailed`."""


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=10, ge=1, le=100)
    source: KnowledgeSource | None = None
    since: datetime | None = None
    symbol: str | None = Field(default=None, min_length=1, max_length=40)
    owner: str | None = Field(default=None, min_length=1, max_length=200)

    def filters(self) -> SearchFilters:
        return SearchFilters(
            source=self.source, since=self.since, symbol=self.symbol, owner=self.owner
        )


class SearchResponse(BaseModel):
    hits: list[KnowledgeHit]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = False
    drop_old: bool = False


def _bearer_check(token: str) -> Callable[[Request], None]:
    expected = f"Bearer {token}".encode()

    def check(request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def search_app(
    search: KnowledgeSearch, *, token: str, status: StatusFn, replay: ReplayFn
) -> FastAPI:
    """The embedder's loopback API (every route authenticated)."""
    app = FastAPI(
        title="Impressox embedder",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(_bearer_check(token))],
    )
    replaying = asyncio.Lock()

    @app.post("/v1/search")
    async def post_search(body: SearchRequest) -> SearchResponse:
        try:
            hits = await search.search(body.query, k=body.k, filters=body.filters())
        except KnowledgeUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return SearchResponse(hits=hits)

    @app.get("/v1/status")
    async def get_status() -> dict[str, object]:
        return await status()

    @app.post("/v1/replay", response_model=None)
    async def post_replay(body: ReplayRequest) -> StreamingResponse | JSONResponse:
        if replaying.locked():
            return JSONResponse({"detail": "a replay is already running"}, status_code=409)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def progress(phase: str, done: int, total: int) -> None:
            queue.put_nowait({"phase": phase, "done": done, "total": total})

        async def run() -> None:
            async with replaying:
                try:
                    report = await replay(body.force, body.drop_old, progress)
                    queue.put_nowait({"result": report.as_dict()})
                except ReplayFailed as exc:
                    queue.put_nowait({"error": str(exc)})
                except Exception as exc:
                    log.exception("replay failed")
                    queue.put_nowait({"error": f"{type(exc).__name__}: {exc}"})
                finally:
                    queue.put_nowait(None)

        # The replay runs to its end even if the caller goes away (it must not stop half-way).
        task = asyncio.create_task(run())
        app.state.replay_task = task

        async def lines() -> AsyncIterator[bytes]:
            while (item := await queue.get()) is not None:
                yield json.dumps(item).encode() + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return app


class _InLoopServer(uvicorn.Server):
    """uvicorn inside the embedder's event loop: the app (FastStream) owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class SearchServer:
    """Serves :func:`search_app` on ``host:port`` in the running event loop."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.url = f"http://{host}:{port}"
        self._server = _InLoopServer(
            uvicorn.Config(
                app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                msg = f"the embedder's search server did not start on {self.url}"
                raise OSError(msg)
            await asyncio.sleep(0.01)
        log.info("search server listening", extra={"url": self.url})

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task


# -- the client ---------------------------------------------------------------------------------


def _hit(raw: dict[str, Any]) -> KnowledgeHit:
    return KnowledgeHit.model_validate(raw)


class HttpKnowledgeSearch:
    """:class:`KnowledgeSearch` through the embedder's server (local mode, other processes)."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"authorization": f"Bearer {token}"},
            timeout=timeout_s,
            trust_env=False,
        )

    async def search(
        self, query: str, *, k: int = 10, filters: SearchFilters | None = None
    ) -> list[KnowledgeHit]:
        text = query.strip()[:2000]
        if not text:
            return []
        f = filters or SearchFilters()
        body = {
            "query": text,
            "k": max(1, min(k, 100)),
            "source": f.source,
            "since": f.since.isoformat() if f.since else None,
            "symbol": f.symbol,
            "owner": f.owner,
        }
        response = await self._post("/v1/search", body)
        return [_hit(h) for h in response.json()["hits"]]

    async def status(self) -> dict[str, Any]:
        try:
            response = await self._client.get("/v1/status")
        except httpx.TransportError as exc:
            msg = f"the embedder's search server is not reachable: {exc}"
            raise KnowledgeUnavailable(msg) from None
        self._check(response)
        result: dict[str, Any] = response.json()
        return result

    async def replay(self, *, force: bool, drop_old: bool, progress: Progress) -> dict[str, Any]:
        """Run ``ixo replay knowledge`` inside the embedder; raises :class:`ReplayFailed`."""
        try:
            async with self._client.stream(
                "POST",
                "/v1/replay",
                json={"force": force, "drop_old": drop_old},
                timeout=httpx.Timeout(30.0, read=None),
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._check(response)
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    item = json.loads(line)
                    if "result" in item:
                        result: dict[str, Any] = item["result"]
                        return result
                    if "error" in item:
                        raise ReplayFailed(str(item["error"]))
                    progress(str(item["phase"]), int(item["done"]), int(item["total"]))
        except httpx.TransportError as exc:
            msg = f"lost the embedder during the replay: {exc}"
            raise ReplayFailed(msg) from None
        msg = "the embedder ended the replay without a result"
        raise ReplayFailed(msg)

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            response = await self._client.post(path, json=body)
        except httpx.TransportError as exc:
            msg = f"the embedder's search server is not reachable: {exc}"
            raise KnowledgeUnavailable(msg) from None
        self._check(response)
        return response

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.status_code == 401:
            msg = "the embedder refused our token (IXO_SECRETS_KEYS differ between processes?)"
            raise KnowledgeUnavailable(msg)
        if response.status_code == 409:
            msg = "a replay is already running in the embedder"
            raise ReplayFailed(msg)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", "")
            except ValueError:
                detail = response.text[:200]
            msg = f"the embedder answered {response.status_code}: {detail}"
            raise KnowledgeUnavailable(msg)

    async def close(self) -> None:
        await self._client.aclose()
