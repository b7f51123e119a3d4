"""Fixtures of the integration tests: the gateway (with the projector) on a real uvicorn."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from consumers.projector.app import build_app
from infra.settings import Settings
from producers.gateway import create_app
from tests._kafka import eventually, wait_assigned


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def gateway(settings: Settings, topics: None) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway and the projector, as `ixo up` runs them; an HTTP client on the gateway."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on"
        )
    )
    serving = asyncio.create_task(server.serve())
    projector = build_app(settings)
    await projector.start()
    try:
        assert projector.broker is not None
        await wait_assigned(projector.broker)  # type: ignore[arg-type]

        async def started() -> bool:
            return server.started

        await eventually(started)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await serving
        await projector.stop()


async def read_sse(
    client: httpx.AsyncClient, url: str, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """The first ``count`` Server-Sent Events of a stream, each as its fields."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if current:
                    events.append(current)
                    current = {}
                if len(events) >= count:
                    break
                continue
            field, _, value = line.partition(":")
            current[field] = value.removeprefix(" ")
    return events
