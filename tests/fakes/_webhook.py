"""A webhook receiver as a customer would write one: a real HTTP server on loopback that checks
``X-Ixo-Signature`` with the secret registered for each path."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response

from consumers.notifier import verify
from infra.stack.standins import LocalServer


@dataclass
class Received:
    path: str
    event_id: str
    body: bytes
    signature: str
    valid: bool
    at: float


@dataclass
class WebhookReceiver:
    """``POST /<path>`` checks the signature with the secret registered for the path (401 when
    it does not verify), records every request and answers 200, or what ``respond`` scripted.
    ``async with receiver.serving():`` serves it (``port`` and ``url()`` are set from then)."""

    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def respond(self, path: str, status: int, *, times: int = 1, **headers: str) -> None:
        self.script.setdefault(path, []).extend([(status, headers)] * times)

    def valid(self, path: str | None = None) -> list[Received]:
        return [r for r in self.received if r.valid and (path is None or r.path == path)]

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[WebhookReceiver]:
        async with LocalServer(self.app(), name="webhook receiver") as server:
            self.port = server.port
            yield self

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path}")
        async def hook(path: str, request: Request) -> Response:
            body = await request.body()
            header = request.headers.get("x-ixo-signature", "")
            ok = verify(self.secrets.get(path, ""), body, header)
            self.received.append(
                Received(
                    path, request.headers.get("x-ixo-event-id", ""), body, header, ok, time.time()
                )
            )
            if not ok:
                return Response(status_code=401)
            queued = self.script.get(path)
            if queued:
                status, headers = queued.pop(0)
                return Response(status_code=status, headers=headers)
            return Response(status_code=200)

        return app
