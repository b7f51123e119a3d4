"""A stand-in Telegram Bot API server: a real HTTP server on 127.0.0.1 that speaks the Bot API's
wire protocol, so the real aiogram client runs against it unpatched.

Usage (inside an async test)::

    async with TelegramStandin() as tg:          # token "123456:standin-token" by default
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.url))
        bot = Bot(tg.token, session=session)     # or Settings(telegram_api_url=tg.url, ...)
        await bot.send_message(42, "hi")
        assert tg.texts(42) == ["hi"]

What it serves, under ``/bot<token>/<method>`` (method names are case-insensitive; parameters
come as a query string, a urlencoded form (aiogram's way) or a JSON body):

- ``getMe``; ``sendMessage`` (the result is a real ``Message``); ``editMessageText``;
  ``getUpdates`` (``offset``/``limit``/``timeout`` long polling over a queue the test fills);
  ``getMyCommands``/``setMyCommands``; ``getWebhookInfo``; and ``deleteWebhook``,
  ``setWebhook``, ``deleteMyCommands``, ``answerCallbackQuery``, ``sendChatAction``,
  ``setChatMenuButton``, ``close``, ``logOut`` (all answer ``true``). Anything else: 404.
- A wrong token gets 401 ``Unauthorized``, as Telegram answers.

Scripting (every method is synchronous and may be called at any time):

- ``fail(method, status, description, retry_after=None, times=1, chat_id=None)``: the next
  ``times`` matching calls (``times=None``: all of them) get that error, e.g.
  ``fail_retry_after(3)`` (429 with ``parameters.retry_after``), ``block(chat_id)`` (403 "bot
  was blocked by the user", forever), ``chat_not_found(chat_id)`` (400), ``server_error()``
  (500). Faults are checked in the order they were added.
- ``delay(method, seconds)``: answer that method only after a pause (a slow API).
- ``push_update(update)`` / ``push_message(text, chat_id=..., user_id=...)``: queue an update
  for ``getUpdates`` (``update_id`` assigned when missing); long polls wake up at once.

Recording: ``calls`` (every request: method, params, HTTP status answered), ``sent`` (every
message that was delivered, i.e. a ``sendMessage`` answered 200), ``texts(chat_id)``,
``calls_of(method)``, and ``await wait_for(lambda: ..., timeout)``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from infra.stack.standins._server import LocalServer

DEFAULT_TOKEN = "123456:standin-token"  # noqa: S105 - the stand-in's own fake token
MAX_POLL_TIMEOUT_S = 50.0
TRUE_METHODS = frozenset(
    {
        "deletewebhook",
        "setwebhook",
        "deletemycommands",
        "answercallbackquery",
        "sendchataction",
        "setchatmenubutton",
        "close",
        "logout",
    }
)


@dataclass(frozen=True)
class TelegramCall:
    """One request the stand-in answered."""

    method: str
    params: dict[str, Any]
    status: int
    at: float


@dataclass
class Fault:
    """An error answer for matching calls; ``times=None`` means forever."""

    method: str
    status: int
    description: str
    retry_after: int | None = None
    times: int | None = 1
    chat_id: str | None = None

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method.lower() != method:
            return False
        return self.chat_id is None or str(params.get("chat_id")) == self.chat_id


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def _decode_value(value: str) -> Any:
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _chat_id(value: Any) -> int | str:
    text = str(value)
    try:
        return int(text)
    except ValueError:
        return text


class TelegramStandin:
    """The stand-in server. ``url`` is the base for ``TelegramAPIServer.from_base`` and
    ``IXO_TELEGRAM_API_URL``; ``token`` the only token it accepts."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_id: int | None = None,
        username: str = "impressox_bot",
    ) -> None:
        self.token = token
        self.bot_id = bot_id if bot_id is not None else int(token.split(":", 1)[0])
        self.username = username
        self.calls: list[TelegramCall] = []
        self.sent: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.delays: dict[str, float] = {}
        self.commands: list[dict[str, Any]] = []
        self._state = _State()
        self._next_update = itertools.count(1)
        self._next_message = itertools.count(1)
        self._stopping = False
        self.app = self._build()
        self._server = LocalServer(self.app, name="Telegram stand-in")
        self.port = self._server.port
        self.url = self._server.url

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        self._stopping = True
        self._state.arrived.set()  # wake long polls
        await self._server.stop()

    async def __aenter__(self) -> TelegramStandin:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- scripting -------------------------------------------------------------------------

    def fail(
        self,
        method: str = "sendMessage",
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int | None = 1,
        chat_id: int | str | None = None,
    ) -> Fault:
        fault = Fault(
            method,
            status,
            description,
            retry_after,
            times,
            None if chat_id is None else str(chat_id),
        )
        self.faults.append(fault)
        return fault

    def fail_retry_after(
        self, seconds: int, *, times: int | None = 1, chat_id: int | str | None = None
    ) -> Fault:
        return self.fail(
            status=429,
            description=f"Too Many Requests: retry after {seconds}",
            retry_after=seconds,
            times=times,
            chat_id=chat_id,
        )

    def block(self, chat_id: int | str) -> Fault:
        return self.fail(
            status=403,
            description="Forbidden: bot was blocked by the user",
            times=None,
            chat_id=chat_id,
        )

    def chat_not_found(self, chat_id: int | str) -> Fault:
        return self.fail(
            status=400, description="Bad Request: chat not found", times=None, chat_id=chat_id
        )

    def server_error(self, *, times: int | None = 1, chat_id: int | str | None = None) -> Fault:
        return self.fail(
            status=500, description="Internal Server Error", times=times, chat_id=chat_id
        )

    def delay(self, method: str, seconds: float) -> None:
        self.delays[method.lower()] = seconds

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = next(self._next_update)
        self._state.updates.append(update)
        self._state.arrived.set()
        return update

    def push_message(
        self,
        text: str,
        *,
        chat_id: int,
        user_id: int | None = None,
        first_name: str = "Alice",
        username: str | None = "alice",
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a private-chat text message from a user (commands get a bot_command entity)."""
        user: dict[str, Any] = {
            "id": user_id if user_id is not None else chat_id,
            "is_bot": False,
            "first_name": first_name,
        }
        if username:
            user["username"] = username
        message: dict[str, Any] = {
            "message_id": next(self._next_message),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": first_name},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        update: dict[str, Any] = {"message": message}
        if update_id is not None:
            update["update_id"] = update_id
        return self.push_update(update)

    # -- reading ---------------------------------------------------------------------------

    def calls_of(self, method: str) -> list[TelegramCall]:
        return [c for c in self.calls if c.method == method.lower()]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        return [
            str(m["text"])
            for m in self.sent
            if chat_id is None or str(m["chat"]["id"]) == str(chat_id)
        ]

    async def wait_for(
        self, predicate: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.02
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                msg = f"Telegram stand-in: condition not met in {timeout}s; calls: {self.calls}"
                raise AssertionError(msg)
            await asyncio.sleep(interval)

    # -- the server ------------------------------------------------------------------------

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Impressox",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _message(self, chat_id: Any, text: str, message_id: int | None = None) -> dict[str, Any]:
        cid = _chat_id(chat_id)
        chat: dict[str, Any]
        if isinstance(cid, int):
            chat = {"id": cid, "type": "private" if cid > 0 else "group", "title": "chat"}
            if cid > 0:
                chat = {"id": cid, "type": "private", "first_name": "User"}
        else:
            chat = {"id": -1001000000000, "type": "channel", "username": cid.lstrip("@")}
        return {
            "message_id": message_id if message_id is not None else next(self._next_message),
            "date": int(time.time()),
            "chat": chat,
            "from": self._bot_user(),
            "text": text,
        }

    def _build(self) -> FastAPI:
        app = FastAPI(title="Telegram Bot API stand-in")

        @app.api_route("/bot{token}/{method}", methods=["GET", "POST"])
        async def call(token: str, method: str, request: Request) -> JSONResponse:  # noqa: PLR0912
            params = await _params(request)
            name = method.lower()
            if token != self.token:
                return self._answer(name, params, _error(401, "Unauthorized"))
            if name in self.delays:
                await asyncio.sleep(self.delays[name])
            for fault in self.faults:
                if fault.matches(name, params):
                    if fault.times is not None:
                        fault.times -= 1
                    extra = (
                        {"parameters": {"retry_after": fault.retry_after}}
                        if fault.retry_after is not None
                        else {}
                    )
                    return self._answer(
                        name, params, _error(fault.status, fault.description, **extra)
                    )
            if name == "getupdates":
                result: Any = await self._get_updates(params)
            elif name == "getme":
                result = self._bot_user()
            elif name == "sendmessage":
                if "chat_id" not in params or not params.get("text"):
                    return self._answer(
                        name, params, _error(400, "Bad Request: message text is empty")
                    )
                result = self._message(params["chat_id"], str(params["text"]))
                self.sent.append({**result, "params": params})
            elif name == "editmessagetext":
                result = self._message(
                    params.get("chat_id", 0),
                    str(params.get("text", "")),
                    int(params.get("message_id", 0)) or None,
                )
            elif name == "getmycommands":
                result = self.commands
            elif name == "setmycommands":
                commands = params.get("commands", [])
                self.commands = commands if isinstance(commands, list) else []
                result = True
            elif name == "getwebhookinfo":
                result = {
                    "url": "",
                    "has_custom_certificate": False,
                    "pending_update_count": len(self._state.updates),
                }
            elif name in TRUE_METHODS:
                result = True
            else:
                return self._answer(name, params, _error(404, "Not Found"))
            return self._answer(name, params, JSONResponse({"ok": True, "result": result}))

        return app

    def _answer(self, method: str, params: dict[str, Any], response: JSONResponse) -> JSONResponse:
        self.calls.append(TelegramCall(method, params, response.status_code, time.time()))
        return response

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        limit = max(1, min(100, int(params.get("limit", 100) or 100)))
        timeout = min(MAX_POLL_TIMEOUT_S, float(params.get("timeout", 0) or 0))
        state = self._state
        if offset:
            # Confirmation: updates before ``offset`` are forgotten (negative offsets: the tail).
            if offset > 0:
                state.updates = [u for u in state.updates if u["update_id"] >= offset]
            else:
                state.updates = state.updates[offset:]
        deadline = time.monotonic() + timeout
        while not state.updates and not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            state.arrived.clear()
            try:
                await asyncio.wait_for(state.arrived.wait(), timeout=left)
            except TimeoutError:
                break
        return state.updates[:limit]


def _error(status: int, description: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error_code": status, "description": description, **extra},
        status_code=status,
    )


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    if body and "application/json" in ctype:
        loaded = json.loads(body)
        if isinstance(loaded, dict):
            params.update(loaded)
    elif body and "application/x-www-form-urlencoded" in ctype:
        for key, value in parse_qsl(body.decode(), keep_blank_values=True):
            params[key] = _decode_value(value)
    elif body and "multipart/form-data" in ctype:
        params.update(_multipart(body, ctype))
    return params


def _multipart(body: bytes, ctype: str) -> dict[str, Any]:
    """Text fields of a multipart form (files are recorded by name only)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
    )
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        if part.get_filename():
            out[name] = f"<file {part.get_filename()}>"
            continue
        payload = part.get_payload(decode=True)
        text = payload.decode() if isinstance(payload, bytes) else str(payload)
        out[name] = _decode_value(text)
    return out
