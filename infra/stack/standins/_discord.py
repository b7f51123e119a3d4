"""A stand-in Discord REST API (v10): a real HTTP server on 127.0.0.1 that speaks Discord's wire
protocol (JSON bodies, snowflake ids, ``X-RateLimit-*`` headers, 429 with ``retry_after``), so the
real hikari REST client runs against it unpatched.

Usage (inside an async test)::

    async with DiscordStandin() as dc:           # token "standin-discord-token" by default
        rest = hikari.RESTApp(url=dc.url)        # dc.url ends in /api/v10 (IXO_DISCORD_API_URL)
        await rest.start()
        async with rest.acquire(dc.token, hikari.TokenType.BOT) as client:
            await client.create_message(1234, "hi")
        assert dc.contents(1234) == ["hi"]

Routes (``Authorization: Bot <token>`` required, else 401):

- ``GET /users/@me`` (the bot user), ``GET /oauth2/applications/@me`` (the application, with
  ``verify_key`` = ``public_key``: what hikari's interaction server fetches on start when it is
  given no public key), ``GET /applications/@me``;
- ``POST /channels/{id}/messages`` (the result is a full message object);
  ``POST /users/@me/channels`` (open a DM: the channel id is the recipient id);
- ``GET|PUT|POST /applications/{app}/commands`` and ``.../guilds/{guild}/commands`` (command
  registration: stored in ``commands``);
- ``POST /interactions/{id}/{token}/callback``, ``PATCH|GET|DELETE
  /webhooks/{app}/{token}/messages/@original``, ``POST /webhooks/{app}/{token}`` (interaction
  responses and follow-ups: recorded in ``interaction_messages``).
Anything else: 404 ``{"message": "404: Not Found", "code": 0}``.

Scripting:

- ``fail(route, status, message, code=0, times=1, channel_id=None)``: the next ``times`` matching
  calls get that error (``route`` is one of the names in ``ROUTES``, e.g. ``"create_message"``);
  ``forbid(channel_id)`` (403 "Missing Access", 50001, forever), ``missing(channel_id)`` (404
  "Unknown Channel", 10003, forever), ``server_error()`` (500).
- ``rate_limit(retry_after, times=1, channel_id=None, scope="shared")``: 429 with body
  ``{"retry_after", "global": false}`` and headers ``Retry-After``, ``X-RateLimit-Limit``,
  ``-Remaining: 0``, ``-Reset``, ``-Reset-After``, ``-Bucket``, ``-Scope``.
- ``delay(route, seconds)``: answer that route after a pause.
Every successful ``create_message`` carries ``X-RateLimit-*`` headers of a generous bucket.

Recording: ``calls`` (route, method, path, JSON body, status answered), ``messages`` (created
messages), ``contents(channel_id)``, ``calls_of(route)``, ``await wait_for(predicate)``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from infra.stack.standins._server import LocalServer

DEFAULT_TOKEN = "standin-discord-token"  # noqa: S105 - the stand-in's own fake token
DISCORD_EPOCH_MS = 1_420_070_400_000
API_PREFIX = "/api/v10"
BUCKET_LIMIT = 50
ROUTES = (
    "my_user",
    "my_application",
    "create_message",
    "create_dm",
    "commands",
    "interaction_callback",
    "interaction_original",
    "interaction_followup",
)


@dataclass(frozen=True)
class DiscordCall:
    route: str
    method: str
    path: str
    body: Any
    status: int
    at: float


@dataclass
class Fault:
    route: str
    status: int
    body: dict[str, Any]
    times: int | None = 1
    channel_id: str | None = None
    headers: dict[str, str] | None = None

    def matches(self, route: str, channel_id: str | None) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.route != route:
            return False
        return self.channel_id is None or self.channel_id == channel_id


class DiscordStandin:
    """The stand-in server. ``url`` (ending in ``/api/v10``) is hikari's ``rest_url`` and
    ``IXO_DISCORD_API_URL``; ``token`` the only bot token it accepts."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        application_id: int = 900_000_000_000_000_001,
        public_key: str = "00" * 32,
        username: str = "impressox",
    ) -> None:
        self.token = token
        self.application_id = application_id
        self.bot_id = application_id
        self.public_key = public_key
        self.username = username
        self.calls: list[DiscordCall] = []
        self.messages: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.interaction_messages: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.delays: dict[str, float] = {}
        self._seq = itertools.count(1)
        self.app = self._build()
        self._server = LocalServer(self.app, name="Discord stand-in")
        self.port = self._server.port
        self.url = f"{self._server.url}{API_PREFIX}"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> DiscordStandin:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- scripting -------------------------------------------------------------------------

    def fail(
        self,
        route: str = "create_message",
        *,
        status: int,
        message: str,
        code: int = 0,
        times: int | None = 1,
        channel_id: int | str | None = None,
    ) -> Fault:
        if route not in ROUTES:
            msg = f"unknown route {route!r}; one of {', '.join(ROUTES)}"
            raise ValueError(msg)
        fault = Fault(
            route,
            status,
            {"message": message, "code": code},
            times,
            None if channel_id is None else str(channel_id),
        )
        self.faults.append(fault)
        return fault

    def forbid(self, channel_id: int | str) -> Fault:
        return self.fail(
            status=403, message="Missing Access", code=50001, times=None, channel_id=channel_id
        )

    def missing(self, channel_id: int | str) -> Fault:
        return self.fail(
            status=404, message="Unknown Channel", code=10003, times=None, channel_id=channel_id
        )

    def server_error(self, *, times: int | None = 1, channel_id: int | str | None = None) -> Fault:
        return self.fail(
            status=500, message="500: Internal Server Error", times=times, channel_id=channel_id
        )

    def rate_limit(
        self,
        retry_after: float,
        *,
        times: int | None = 1,
        channel_id: int | str | None = None,
        scope: str = "shared",
        route: str = "create_message",
    ) -> Fault:
        fault = Fault(
            route,
            429,
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            times,
            None if channel_id is None else str(channel_id),
            headers={
                "Retry-After": str(max(1, round(retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": f"standin-{route}",
                "X-RateLimit-Scope": scope,
            },
        )
        self.faults.append(fault)
        return fault

    def delay(self, route: str, seconds: float) -> None:
        self.delays[route] = seconds

    # -- reading ---------------------------------------------------------------------------

    def calls_of(self, route: str) -> list[DiscordCall]:
        return [c for c in self.calls if c.route == route]

    def contents(self, channel_id: int | str | None = None) -> list[str]:
        return [
            str(m["content"])
            for m in self.messages
            if channel_id is None or m["channel_id"] == str(channel_id)
        ]

    async def wait_for(
        self, predicate: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.02
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                msg = f"Discord stand-in: condition not met in {timeout}s; calls: {self.calls}"
                raise AssertionError(msg)
            await asyncio.sleep(interval)

    # -- objects ---------------------------------------------------------------------------

    def snowflake(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._seq) & 0x3FFFFF))

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_id),
            "username": self.username,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "system": False,
            "mfa_enabled": False,
            "verified": True,
            "flags": 0,
            "public_flags": 0,
        }

    def application(self) -> dict[str, Any]:
        owner = {**self.bot_user(), "id": "900000000000000002", "username": "owner", "bot": False}
        return {
            "id": str(self.application_id),
            "name": self.username,
            "icon": None,
            "description": "stand-in application",
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": self.public_key,
            "flags": 0,
            "owner": owner,
            "team": None,
            "approximate_guild_count": 1,
            "approximate_user_install_count": 0,
        }

    def message(
        self, channel_id: str, body: dict[str, Any], *, webhook: bool = False
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "type": 0,
            "author": self.bot_user(),
            "content": body.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "flags": int(body.get("flags") or 0),
        }
        if webhook:
            out["webhook_id"] = str(self.application_id)
            out["application_id"] = str(self.application_id)
        return out

    def _command(self, app_id: str, guild_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.snowflake(),
            "type": body.get("type", 1),
            "application_id": app_id,
            "guild_id": guild_id,
            "name": body.get("name", ""),
            "name_localizations": body.get("name_localizations") or {},
            "description": body.get("description", ""),
            "description_localizations": body.get("description_localizations") or {},
            "options": body.get("options") or [],
            "default_member_permissions": body.get("default_member_permissions"),
            "dm_permission": body.get("dm_permission", True),
            "nsfw": body.get("nsfw", False),
            "version": self.snowflake(),
        }

    # -- the server ------------------------------------------------------------------------

    def _build(self) -> FastAPI:  # noqa: PLR0915 - one route per Discord endpoint
        app = FastAPI(title="Discord REST API stand-in")
        p = API_PREFIX

        async def guard(
            request: Request, route: str, channel_id: str | None = None
        ) -> tuple[Any, Response | None]:
            raw = await request.body()
            body: Any = json.loads(raw) if raw else None
            if request.headers.get("authorization") != f"Bot {self.token}":
                return body, self._answer(
                    route, request, body, _json({"message": "401: Unauthorized", "code": 0}, 401)
                )
            if route in self.delays:
                await asyncio.sleep(self.delays[route])
            for fault in self.faults:
                if fault.matches(route, channel_id):
                    if fault.times is not None:
                        fault.times -= 1
                    return body, self._answer(
                        route, request, body, _json(fault.body, fault.status, fault.headers)
                    )
            return body, None

        @app.get(p + "/users/@me")
        async def my_user(request: Request) -> Response:
            body, failed = await guard(request, "my_user")
            return failed or self._answer("my_user", request, body, _json(self.bot_user()))

        @app.get(p + "/oauth2/applications/@me")
        @app.get(p + "/applications/@me")
        async def my_application(request: Request) -> Response:
            body, failed = await guard(request, "my_application")
            return failed or self._answer(
                "my_application", request, body, _json(self.application())
            )

        @app.post(p + "/channels/{channel_id}/messages")
        async def create_message(channel_id: str, request: Request) -> Response:
            body, failed = await guard(request, "create_message", channel_id)
            if failed:
                return failed
            if not isinstance(body, dict) or not (body.get("content") or body.get("embeds")):
                error = {"message": "Cannot send an empty message", "code": 50006}
                return self._answer("create_message", request, body, _json(error, 400))
            message = self.message(channel_id, body)
            self.messages.append(message)
            headers = {
                "X-RateLimit-Limit": str(BUCKET_LIMIT),
                "X-RateLimit-Remaining": str(BUCKET_LIMIT - 1),
                "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
                "X-RateLimit-Reset-After": "1.000",
                "X-RateLimit-Bucket": "standin-create_message",
            }
            return self._answer("create_message", request, body, _json(message, 200, headers))

        @app.post(p + "/users/@me/channels")
        async def create_dm(request: Request) -> Response:
            body, failed = await guard(request, "create_dm")
            if failed:
                return failed
            recipient = str((body or {}).get("recipient_id", "0"))
            channel = {
                "id": recipient,
                "type": 1,
                "last_message_id": None,
                "recipients": [{**self.bot_user(), "id": recipient, "bot": False}],
            }
            return self._answer("create_dm", request, body, _json(channel))

        @app.api_route(p + "/applications/{app_id}/commands", methods=["GET", "PUT", "POST"])
        @app.api_route(
            p + "/applications/{app_id}/guilds/{guild_id}/commands",
            methods=["GET", "PUT", "POST"],
        )
        async def commands(app_id: str, request: Request, guild_id: str | None = None) -> Response:
            body, failed = await guard(request, "commands")
            if failed:
                return failed
            key = guild_id or "global"
            if request.method == "PUT":
                self.commands[key] = [self._command(app_id, guild_id, c) for c in body or []]
                result: Any = self.commands[key]
            elif request.method == "POST":
                made = self._command(app_id, guild_id, body or {})
                self.commands.setdefault(key, []).append(made)
                result = made
            else:
                result = self.commands.get(key, [])
            return self._answer("commands", request, body, _json(result))

        @app.post(p + "/interactions/{interaction_id}/{token}/callback")
        async def interaction_callback(
            interaction_id: str, token: str, request: Request
        ) -> Response:
            raw = await request.body()
            body = json.loads(raw) if raw else None
            self.interaction_messages.append(
                {"interaction_id": interaction_id, "token": token, "callback": body}
            )
            return self._answer("interaction_callback", request, body, Response(status_code=204))

        @app.api_route(
            p + "/webhooks/{app_id}/{token}/messages/@original", methods=["GET", "PATCH", "DELETE"]
        )
        async def interaction_original(app_id: str, token: str, request: Request) -> Response:
            raw = await request.body()
            body = json.loads(raw) if raw else {}
            if request.method == "DELETE":
                return self._answer(
                    "interaction_original", request, body, Response(status_code=204)
                )
            message = self.message("0", body, webhook=True)
            self.interaction_messages.append({"token": token, "original": message})
            return self._answer("interaction_original", request, body, _json(message))

        @app.post(p + "/webhooks/{app_id}/{token}")
        async def interaction_followup(app_id: str, token: str, request: Request) -> Response:
            raw = await request.body()
            body = json.loads(raw) if raw else {}
            message = self.message("0", body, webhook=True)
            self.interaction_messages.append({"token": token, "followup": message})
            return self._answer("interaction_followup", request, body, _json(message))

        @app.api_route(p + "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def unknown(rest: str, request: Request) -> Response:
            return self._answer(
                "unknown", request, None, _json({"message": "404: Not Found", "code": 0}, 404)
            )

        return app

    def _answer(self, route: str, request: Request, body: Any, response: Response) -> Response:
        self.calls.append(
            DiscordCall(
                route, request.method, request.url.path, body, response.status_code, time.time()
            )
        )
        return response


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers=headers)
