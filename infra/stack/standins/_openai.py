"""A stand-in for an OpenAI-compatible Chat Completions server, scripted by the test.

A real HTTP server (FastAPI on uvicorn, in a thread, on 127.0.0.1 and a port of its own) that speaks
the wire format the ``openai`` client expects: ``POST /v1/chat/completions`` answers either a
``chat.completion`` JSON object or, with ``"stream": true``, ``text/event-stream`` chunks
(``choices[0].delta.content``, ``delta.tool_calls`` fragments split across chunks, a last chunk
with ``finish_reason``, then ``data: [DONE]``). Each request takes the next scripted reply
from a queue (text, tool calls, or an HTTP error); every request body is recorded.

    with OpenAIStandIn() as llm:
        llm.reply_tool_calls(call("create_alert", {"symbol": "BTC", ...}))
        llm.reply_text("Done: your alert is set.")
        ... AsyncOpenAI(base_url=llm.base_url, api_key="test") ...
        assert llm.requests[1]["messages"][-1]["role"] == "tool"
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from infra.stack.standins._server import LocalServer


@dataclass(frozen=True)
class ScriptedCall:
    """A tool call the scripted model makes; ``arguments`` is sent verbatim (may be bad JSON)."""

    name: str
    arguments: str
    call_id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:12]}")


def call(name: str, arguments: Mapping[str, Any] | str, call_id: str | None = None) -> ScriptedCall:
    """A scripted tool call; a mapping is encoded as JSON, a string is sent as is."""
    text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
    return ScriptedCall(name, text, call_id or f"call_{uuid.uuid4().hex[:12]}")


@dataclass(frozen=True)
class ScriptedReply:
    """One response: text and/or tool calls, or an HTTP error ``status`` with ``error``."""

    text: str = ""
    tool_calls: tuple[ScriptedCall, ...] = ()
    status: int = 200
    error: str = ""
    delay_s: float = 0.0


def _pieces(text: str, size: int) -> list[str]:
    """Split ``text`` into word-ish pieces (keeping spaces), at most ``size`` chars each."""
    out: list[str] = []
    for word in text.split(" "):
        piece = word if not out else " " + word
        out.extend(piece[i : i + size] for i in range(0, len(piece), size))
    return [p for p in out if p]


class OpenAIStandIn:
    """The scripted server. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", *, chunk_size: int = 8) -> None:
        self.host = host
        self.chunk_size = chunk_size
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._script: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        self.app = self._build_app()
        self._server = LocalServer(self.app, host=host, name="OpenAI stand-in")
        self.port = self._server.port

    # -- scripting -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def enqueue(self, *replies: ScriptedReply) -> None:
        with self._lock:
            self._script.extend(replies)

    def reply_text(self, text: str, *, delay_s: float = 0.0) -> None:
        self.enqueue(ScriptedReply(text=text, delay_s=delay_s))

    def reply_tool_calls(self, *calls: ScriptedCall, text: str = "") -> None:
        self.enqueue(ScriptedReply(text=text, tool_calls=calls))

    def fail(self, status: int = 500, error: str = "stand-in failure") -> None:
        self.enqueue(ScriptedReply(status=status, error=error))

    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def clear(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.headers.clear()

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> ScriptedReply | None:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self._script.popleft() if self._script else None

    # -- the HTTP app ----------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI(title="OpenAI-compatible stand-in")

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": "standin", "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Response:
            body = await request.json()
            reply = self._next(body, dict(request.headers))
            if reply is None:
                return _error(500, "stand-in: no scripted reply left")
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            if reply.status != 200:
                return _error(reply.status, reply.error)
            model = str(body.get("model", "standin"))
            if body.get("stream"):
                return StreamingResponse(self._chunks(reply, model), media_type="text/event-stream")
            return JSONResponse(_completion(reply, model))

        return app

    async def _chunks(self, reply: ScriptedReply, model: str) -> AsyncIterator[str]:
        ident = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            data = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        for piece in _pieces(reply.text, self.chunk_size):
            yield chunk({"content": piece})
            await asyncio.sleep(0)
        for index, c in enumerate(reply.tool_calls):
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": c.call_id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": ""},
                        }
                    ]
                }
            )
            half = len(c.arguments) // 2
            for part in (c.arguments[:half], c.arguments[half:]):
                if part:
                    yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
        yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
        yield "data: [DONE]\n\n"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> OpenAIStandIn:
        self._server.start_thread()
        return self

    def stop(self) -> None:
        self._server.stop_thread()

    def __enter__(self) -> OpenAIStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _error(status: int, message: str) -> JSONResponse:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": None}},
        status_code=status,
    )


def _completion(reply: ScriptedReply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
