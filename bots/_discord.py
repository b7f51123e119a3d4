"""The Discord bot: slash commands through an HTTP interaction endpoint served by hikari's
``RESTBot`` interaction server, REST calls against ``settings.discord_api_url``.

Every request is verified with the application's Ed25519 public key before hikari sees it: a
missing, malformed, stale (more than five minutes off) or wrong signature gets 401, as Discord
requires of an interactions endpoint (hikari itself would answer 400). The interaction id is
the delivery id: a retried interaction publishes nothing new.

Commands are answered in the interaction response itself, at once. ``/ask`` (and free text)
is answered with a deferred response ("thinking..."); the agent's answer later edits that
response through the interaction's webhook (tokens live 15 minutes), or is posted to the
channel when the token has expired.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable
from typing import Final, cast

import aiohttp
import hikari
from aiohttp import web
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from redis.asyncio import Redis

from bots._commands import ChatText, Command, command_from_options
from bots._errors import BotConfigError, DeliveryBusy
from bots._ids import event_id_of
from bots._redis import redis_errors
from bots._replies import DISCORD_MAX_TEXT, busy_text, split_text, unavailable_text
from bots._runtime import BotRuntime
from bots._types import Origin
from infra.settings import Settings
from schemas import AnyEvent, ChatResponseCompletedV1, PermanentError, TransientError

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Signature-Ed25519"
TIMESTAMP_HEADER: Final = "X-Signature-Timestamp"
MAX_SKEW_S: Final = 300
TOKEN_TTL_S: Final = 14 * 60  # interaction tokens are valid for 15 minutes
DEFAULT_PORT: Final = 8081
INTERACTION_PATHS: Final = ("/", "/interactions")
SHUTDOWN_TIMEOUT_S: Final = 10.0

_STRING = hikari.OptionType.STRING


def verify_request(
    key: VerifyKey,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    now: float | None = None,
    max_skew_s: float = MAX_SKEW_S,
) -> str | None:
    """Check a Discord interaction request; None when genuine, else why not."""
    if not signature or not timestamp:
        return "missing signature headers"
    try:
        raw_signature = bytes.fromhex(signature)
        sent_at = float(timestamp)
    except ValueError:
        return "malformed signature headers"
    if abs((time.time() if now is None else now) - sent_at) > max_skew_s:
        return "stale timestamp"
    try:
        key.verify(timestamp.encode() + body, raw_signature)
    except (BadSignatureError, ValueError):
        return "invalid request signature"
    return None


def _content(text: str) -> str:
    return text if len(text) <= DISCORD_MAX_TEXT else text[: DISCORD_MAX_TEXT - 1] + "\u2026"


class InteractionTokens:
    """The interaction awaiting each chat request's answer (Redis, for 14 minutes)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def put(self, request_id: str, application_id: str, token: str) -> None:
        value = json.dumps({"app": application_id, "token": token})
        async with redis_errors():
            await self._redis.set(f"{self._prefix}itok:{request_id}", value, ex=TOKEN_TTL_S)

    async def get(self, *request_ids: str | None) -> tuple[str, str] | None:
        for request_id in request_ids:
            if not request_id:
                continue
            async with redis_errors():
                raw = await self._redis.get(f"{self._prefix}itok:{request_id}")
            if raw is not None:
                value = json.loads(raw)
                return str(value["app"]), str(value["token"])
        return None


async def _rest_call(call: Awaitable[object], *, interaction: bool = False) -> None:
    """Await a hikari REST call with its errors mapped to ours. On an interaction webhook a 401
    means the token expired (15 minutes): permanent too; elsewhere it is a refused bot token."""
    gone: tuple[type[Exception], ...] = (
        hikari.ForbiddenError,
        hikari.NotFoundError,
        hikari.BadRequestError,
    )
    if interaction:
        gone = (*gone, hikari.UnauthorizedError)
    try:
        await call
    except gone as exc:
        raise PermanentError(str(exc)) from None
    except (hikari.HTTPError, aiohttp.ClientError, TimeoutError) as exc:
        raise TransientError(str(exc) or type(exc).__name__) from None


class DiscordSink:
    """Sends the agent's answers: edits the deferred interaction response, else posts."""

    def __init__(self, rest: hikari.api.RESTClient, tokens: InteractionTokens) -> None:
        self._rest = rest
        self._tokens = tokens

    async def deliver(self, chat_id: str, answer: ChatResponseCompletedV1, event: AnyEvent) -> None:
        if not chat_id.isdigit():
            msg = f"{answer.session_id!r} names no Discord channel"
            raise PermanentError(msg)
        chunks = split_text(answer.text, DISCORD_MAX_TEXT)
        found = await self._tokens.get(answer.request_id, event.correlationid)
        if found is not None:
            app, token = found
            try:
                await _rest_call(
                    self._rest.edit_interaction_response(int(app), token, chunks[0]),
                    interaction=True,
                )
                for chunk in chunks[1:]:
                    await _rest_call(
                        self._rest.execute_webhook(int(app), token, chunk), interaction=True
                    )
            except PermanentError:
                log.info("interaction token expired; posting to the channel instead")
            else:
                return
        for chunk in chunks:
            await _rest_call(self._rest.create_message(int(chat_id), chunk))


def command_options(interaction: hikari.CommandInteraction) -> dict[str, str]:
    return {
        option.name: str(option.value)
        for option in interaction.options or ()
        if option.value is not None
    }


def slash_commands(rest: hikari.api.RESTClient) -> list[hikari.api.SlashCommandBuilder]:
    """The slash commands the bot registers for its application."""

    def opt(name: str, description: str, *, required: bool = True) -> hikari.CommandOption:
        return hikari.CommandOption(
            type=_STRING, name=name, description=description, is_required=required
        )

    conditions = [
        hikari.CommandChoice(name=c, value=c)
        for c in ("above", "below", "crosses_above", "crosses_below", "pct")
    ]
    return [
        rest.slash_command_builder("price", "The latest price of a symbol").add_option(
            opt("symbol", "e.g. BTCUSDT")
        ),
        rest.slash_command_builder("alert", "Set a price alert")
        .add_option(opt("symbol", "e.g. BTCUSDT"))
        .add_option(
            hikari.CommandOption(
                type=_STRING,
                name="condition",
                description="When to fire",
                is_required=True,
                choices=conditions,
            )
        )
        .add_option(opt("value", "A price, or a percentage for pct (e.g. -5)"))
        .add_option(opt("window", "pct only: 30m, 4h, 1d (default 1h)", required=False)),
        rest.slash_command_builder("alerts", "Your alert rules and latest matches"),
        rest.slash_command_builder("unalert", "Delete one of your alerts").add_option(
            opt("id", "The alert id, as /alerts lists it")
        ),
        rest.slash_command_builder("ask", "Ask the Impressox agent").add_option(
            opt("text", "Your question")
        ),
        rest.slash_command_builder("start", "Link your account to your Impressox user").add_option(
            opt(
                "code",
                "A one-time link code from the web app (none: how to get one)",
                required=False,
            )
        ),
        rest.slash_command_builder("link", "Link your account with a one-time code").add_option(
            opt("code", "The link code from the web app (POST /v1/me/link-codes)")
        ),
        rest.slash_command_builder("help", "The commands"),
    ]


class DiscordBot:
    """One Discord bot process: the interaction endpoint, the command layer, the answers."""

    def __init__(
        self, settings: Settings, *, host: str | None = None, port: int | None = None
    ) -> None:
        token = settings.discord_token.get_secret_value()
        if not token:
            msg = "IXO_DISCORD_TOKEN is not set: the Discord bot needs its bot token"
            raise BotConfigError(msg)
        self._key: VerifyKey | None = None
        if settings.discord_public_key:
            self._key = _verify_key(settings.discord_public_key)
        self.host = host or settings.gateway_host
        self.port = DEFAULT_PORT if port is None else port
        self.bot = hikari.RESTBot(
            token,
            hikari.TokenType.BOT,
            public_key=settings.discord_public_key or None,
            rest_url=settings.discord_api_url,
            banner=None,
            logs=None,
            suppress_optimization_warning=True,
        )
        self.bot.set_listener(hikari.CommandInteraction, self._on_command)
        # The implementations behind RESTBot's interface types: their lifecycle is ours to run.
        self._rest = cast("hikari.impl.RESTClientImpl", self.bot.rest)
        self._interactions = cast("hikari.impl.InteractionServer", self.bot.interaction_server)
        self.runtime = BotRuntime(settings, "discord")
        self.tokens = InteractionTokens(self.runtime.redis, self.runtime.prefix)
        self.runtime.answer_with(DiscordSink(self.bot.rest, self.tokens))
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/interactions"

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set."""
        self._rest.start()
        try:
            await self._prepare()
            await self.runtime.start()
            await self._serve()
            await self.runtime.wait_ready()
            log.info("discord bot ready", extra={"url": self.url})
            if ready is not None:
                ready.set()
            await stop.wait()
        finally:
            try:
                if self._runner is not None:
                    await self._runner.cleanup()  # finishes in-flight interactions
                    self._runner = None
                await self.runtime.stop()
            finally:
                await self._rest.close()

    async def _prepare(self) -> None:
        """Fetch the application (its public key when not configured) and register the slash
        commands; without a configured key a failure here is fatal, else only logged."""
        try:
            application = await self.bot.rest.fetch_application()
        except (hikari.HTTPError, aiohttp.ClientError, TimeoutError) as exc:
            if self._key is None:
                msg = f"cannot fetch the Discord application (for its public key): {exc}"
                raise BotConfigError(msg) from None
            log.warning("cannot fetch the Discord application", extra={"error": str(exc)})
            return
        if self._key is None:
            self._key = VerifyKey(application.public_key)
        try:
            await self.bot.rest.set_application_commands(
                application.id, slash_commands(self.bot.rest)
            )
        except (hikari.HTTPError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("cannot register the slash commands", extra={"error": str(exc)})

    async def _serve(self) -> None:
        app = web.Application()
        for path in INTERACTION_PATHS:
            app.router.add_post(path, self._on_request)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()

    async def _on_request(self, request: web.Request) -> web.StreamResponse:
        assert self._key is not None
        body = await request.read()
        problem = verify_request(
            self._key,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            body,
        )
        if problem is not None:
            log.warning("interaction rejected", extra={"reason": problem})
            return web.Response(status=401, text=problem)
        # Genuine: hikari parses it, answers PINGs, dispatches commands, builds the response.
        return await self._interactions.aiohttp_hook(request)

    async def _on_command(
        self, interaction: hikari.CommandInteraction
    ) -> hikari.api.InteractionMessageBuilder | hikari.api.InteractionDeferredBuilder:
        command = command_from_options(interaction.command_name, command_options(interaction))
        origin = Origin(
            platform="discord",
            platform_user_id=str(interaction.user.id),
            chat_id=str(interaction.channel.id),
            delivery_id=str(interaction.id),
        )
        try:
            return await self._respond(interaction, origin, command)
        except DeliveryBusy:
            return _ephemeral(interaction, busy_text())
        except TransientError as exc:
            log.warning("interaction not handled", extra={"error": str(exc)})
            return _ephemeral(interaction, unavailable_text())

    async def _respond(
        self, interaction: hikari.CommandInteraction, origin: Origin, command: Command
    ) -> hikari.api.InteractionMessageBuilder | hikari.api.InteractionDeferredBuilder:
        if isinstance(command, ChatText):
            # Remember where to answer before the request exists: the answer may be quick.
            await self.tokens.put(
                event_id_of(origin), str(interaction.application_id), interaction.token
            )
        reply = await self.runtime.service.handle(origin, command)
        if reply.answer_pending:
            return interaction.build_deferred_response()
        return interaction.build_response().set_content(_content(reply.text))


def _ephemeral(
    interaction: hikari.CommandInteraction, text: str
) -> hikari.api.InteractionMessageBuilder:
    return interaction.build_response().set_content(text).set_flags(hikari.MessageFlag.EPHEMERAL)


def _verify_key(hex_key: str) -> VerifyKey:
    try:
        return VerifyKey(bytes.fromhex(hex_key))
    except ValueError as exc:
        msg = f"IXO_DISCORD_PUBLIC_KEY is not a hex Ed25519 public key: {exc}"
        raise BotConfigError(msg) from None
