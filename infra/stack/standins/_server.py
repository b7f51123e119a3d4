"""One way to serve an ASGI app on loopback for a stand-in, a test or a benchmark: uvicorn on a
socket bound before the server starts, so the port is known at once and no other process can
take it between picking and binding. It runs in the caller's event loop (``async with``) or in
a thread of its own (``with``, for synchronous callers)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Literal

import uvicorn

LOOPBACK: Final = "127.0.0.1"
STARTUP_TIMEOUT_S: Final = 10.0


def free_port(host: str = LOOPBACK) -> int:
    """A port that is free right now, for a server another process will bind (it may be taken
    before then: in this process, use :class:`LocalServer`, which keeps the port bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalServer:
    """``app`` served by uvicorn on ``host`` and a port of its own (``port``, ``url``).

    ``async with LocalServer(app) as server:`` serves in the running event loop;
    ``with LocalServer(app) as server:`` serves in a daemon thread. Leaving the block stops it
    (open connections get ``shutdown_timeout_s`` to finish).
    """

    def __init__(
        self,
        app: Callable[..., Any],
        *,
        host: str = LOOPBACK,
        lifespan: Literal["on", "off", "auto"] = "off",
        name: str = "local server",
        shutdown_timeout_s: float = 1.0,
    ) -> None:
        self.name = name
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((host, 0))
        self.port = int(self._socket.getsockname()[1])
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=self.port,
                log_config=None,
                log_level="warning",
                lifespan=lifespan,
                timeout_graceful_shutdown=max(1, round(shutdown_timeout_s)),
            )
        )
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    # -- in the running event loop ---------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve(sockets=[self._socket]))
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises what stopped the server
                msg = f"{self.name} stopped during start on {self.url}"
                raise RuntimeError(msg)
            if time.monotonic() > deadline:
                self.server.should_exit = True
                msg = f"{self.name} did not start on {self.url} in {STARTUP_TIMEOUT_S}s"
                raise RuntimeError(msg)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            self._socket.close()
            return
        self.server.should_exit = True
        await self._task
        self._task = None

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- in a thread of its own ------------------------------------------------------------

    def start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self._socket]},
            name=self.name,
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.server.should_exit = True
                msg = f"{self.name} did not start on {self.url}"
                raise RuntimeError(msg)
            time.sleep(0.01)

    def stop_thread(self) -> None:
        if self._thread is None:
            self._socket.close()
            return
        self.server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> LocalServer:
        self.start_thread()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_thread()
