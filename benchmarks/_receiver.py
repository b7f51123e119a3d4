"""The benchmarks' webhook receiver, in a process of its own (its clock is not held up by the
benchmark's work): a raw ASGI app that verifies each signature, counts the POSTs and the
distinct event ids, and notes when the first delivery of each tick's alert arrived (epoch
seconds). ``GET /stats`` (``?full=1``: with the arrivals), ``POST /reset``, anything else: a
webhook.

    python -m benchmarks._receiver PORT      (the secret in IXO_BENCH_RECEIVER_SECRET)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from consumers.notifier import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from infra.stack.standins import free_port

SECRET_ENV = "IXO_BENCH_RECEIVER_SECRET"  # noqa: S105 - the variable's name


def receiver_app(secret: str) -> Any:
    state: dict[str, Any] = {}

    def reset() -> None:
        state.update(count=0, invalid=0, ids=set(), arrivals={})

    reset()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        payload = b"{}"
        if scope["method"] == "GET":
            out: dict[str, Any] = {
                "count": state["count"],
                "unique": len(state["ids"]),
                "invalid": state["invalid"],
            }
            if scope.get("query_string") == b"full=1":
                out["arrivals"] = state["arrivals"]
            payload = orjson.dumps(out)
        elif scope["path"] == "/reset":
            reset()
        else:
            now = time.time()
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            if not verify(secret, body, headers.get(SIGNATURE_HEADER.lower())):
                state["invalid"] += 1
            state["count"] += 1
            state["ids"].add(headers.get(EVENT_ID_HEADER.lower(), ""))
            tick = orjson.loads(body).get("data", {}).get("tick_id")
            if isinstance(tick, str):
                state["arrivals"].setdefault(tick, now)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


@contextlib.asynccontextmanager
async def receiver_process(secret: str) -> AsyncIterator[str]:
    """The receiver started in a process of its own; yields its base URL."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks._receiver",
        str(port),
        env={**os.environ, SECRET_ENV: secret},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(400):
                with contextlib.suppress(httpx.TransportError):
                    await client.get(base + "/stats")
                    break
                await asyncio.sleep(0.05)
            else:
                msg = "the webhook receiver did not start"
                raise RuntimeError(msg)
        yield base
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=30)


async def receiver_stats(http: httpx.AsyncClient, base: str, *, full: bool = False) -> Any:
    return (await http.get(base + "/stats" + ("?full=1" if full else ""))).json()


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        receiver_app(os.environ[SECRET_ENV]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
