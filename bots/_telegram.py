"""The Telegram bot: aiogram 3 over long polling, against ``settings.telegram_api_url``.

Updates are fetched with ``getUpdates`` and handled one at a time; an update is confirmed (the
next ``getUpdates`` offset) only after its handling finished, so a crash or restart redelivers
it, and the event ids derived from ``update_id`` make the redelivery publish nothing new. When
Kafka, MongoDB or Redis is down the same update is retried with backoff (Telegram keeps it for
24 hours) instead of being skipped. On stop, the update in hand is finished and the processed
ones are confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiogram.types import BotCommand, Message, Update
from aiogram.utils.token import TokenValidationError
from pydantic import ValidationError

from bots._commands import USAGE, parse_command
from bots._errors import BotConfigError
from bots._replies import TELEGRAM_MAX_TEXT, split_text
from bots._runtime import BotRuntime
from bots._types import Origin
from infra.settings import Settings
from schemas import AnyEvent, ChatResponseCompletedV1, PermanentError, TransientError

log = logging.getLogger(__name__)

POLL_TIMEOUT_S: Final = 25
MAX_RETRY_AFTER_S: Final = 60
SEND_ATTEMPTS: Final = 3
BACKOFF_START_S: Final = 0.5
BACKOFF_MAX_S: Final = 15.0
ALLOWED_UPDATES: Final = ["message"]


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, waking early when ``stop`` is set; True if it is."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


def _chat(chat_id: str) -> int | str:
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


async def send_text(bot: Bot, chat_id: str, text: str) -> None:
    """``sendMessage`` in chunks Telegram accepts, waiting out ``retry_after``; errors mapped to
    :class:`TransientError` (retry later) or :class:`PermanentError` (blocked, chat gone)."""
    for chunk in split_text(text, TELEGRAM_MAX_TEXT):
        await _send_chunk(bot, chat_id, chunk)


async def _send_chunk(bot: Bot, chat_id: str, text: str) -> None:
    for _ in range(SEND_ATTEMPTS):
        try:
            await bot.send_message(_chat(chat_id), text)
        except TelegramRetryAfter as exc:
            if exc.retry_after > MAX_RETRY_AFTER_S:
                msg = f"Telegram asks to wait {exc.retry_after}s"
                raise TransientError(msg) from None
            await asyncio.sleep(exc.retry_after)
            continue
        except (TelegramForbiddenError, TelegramNotFound, TelegramBadRequest) as exc:
            raise PermanentError(str(exc)) from None
        except (TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError) as exc:
            raise TransientError(str(exc)) from None
        except TelegramAPIError as exc:
            raise PermanentError(str(exc)) from None
        return
    msg = f"Telegram kept rate-limiting chat {chat_id}"
    raise TransientError(msg)


class TelegramSink:
    """Sends the agent's answers to Telegram chats."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def deliver(self, chat_id: str, answer: ChatResponseCompletedV1, event: AnyEvent) -> None:
        await send_text(self._bot, chat_id, answer.text)


class TelegramBot:
    """One Telegram bot process: polling, the command layer, and the answers subscriber."""

    def __init__(self, settings: Settings, *, poll_timeout_s: int = POLL_TIMEOUT_S) -> None:
        token = settings.telegram_token.get_secret_value()
        if not token:
            msg = "IXO_TELEGRAM_TOKEN is not set: the Telegram bot needs its bot token"
            raise BotConfigError(msg)
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        try:
            self.bot = Bot(token, session=session)
        except TokenValidationError as exc:
            msg = f"IXO_TELEGRAM_TOKEN is not a Telegram bot token: {exc}"
            raise BotConfigError(msg) from None
        self.runtime = BotRuntime(settings, "telegram")
        self.runtime.answer_with(TelegramSink(self.bot))
        self._poll_timeout_s = poll_timeout_s
        self.dispatcher = Dispatcher()
        router = Router(name="impressox")
        router.message.register(self._on_text, F.text)
        router.message.register(self._on_other)
        self.dispatcher.include_router(router)

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set."""
        try:
            await self.runtime.start()
            try:
                me = await self.bot.me()
            except TelegramUnauthorizedError:
                msg = "Telegram refused IXO_TELEGRAM_TOKEN (401 Unauthorized)"
                raise BotConfigError(msg) from None
            await self._set_commands()
            await self.runtime.wait_ready()
            log.info("telegram bot ready", extra={"bot": me.username, "bot_id": me.id})
            if ready is not None:
                ready.set()
            await self._poll(stop)
        finally:
            try:
                await self.runtime.stop()
            finally:
                await self.bot.session.close()

    async def _set_commands(self) -> None:
        commands = [
            BotCommand(command=name, description=text.split(" - ", 1)[-1][:256])
            for name, text in USAGE.items()
        ]
        try:
            await self.bot.set_my_commands(commands)
        except TelegramAPIError as exc:  # the menu is a convenience; the bot works without it
            log.warning("could not set the command menu", extra={"error": str(exc)})

    async def _poll(self, stop: asyncio.Event) -> None:
        offset: int | None = None
        backoff = BACKOFF_START_S
        timeout = self._poll_timeout_s
        while not stop.is_set():
            request = GetUpdates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES)
            fetch = asyncio.ensure_future(self.bot(request, request_timeout=timeout + 10))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not fetch.done():
                fetch.cancel()  # nothing is lost: unconfirmed updates come again
                with contextlib.suppress(asyncio.CancelledError, TelegramAPIError):
                    await fetch
                break
            skip_to: int | None = None  # past unreadable updates, once the readable are done
            try:
                updates = fetch.result()
            except ClientDecodeError as exc:
                # One update aiogram cannot read must not stop the others (nor the bot, which
                # would fetch the same batch for ever): read them one by one, skip the bad ones.
                updates, last_id = self._readable(exc.data)
                if last_id is None:
                    log.warning("getUpdates answer unreadable; retrying")
                    await _sleep_unless(stop, backoff)
                    backoff = min(BACKOFF_MAX_S, backoff * 2)
                    continue
                skip_to = last_id + 1
            except TelegramRetryAfter as exc:
                await _sleep_unless(stop, exc.retry_after)
                continue
            except TelegramUnauthorizedError:
                msg = "Telegram refused IXO_TELEGRAM_TOKEN (401 Unauthorized)"
                raise BotConfigError(msg) from None
            except TelegramAPIError as exc:
                log.warning("getUpdates failed; retrying", extra={"error": str(exc)})
                await _sleep_unless(stop, backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            backoff = BACKOFF_START_S
            for update in updates:
                if not await self._process(update, stop):
                    break
                offset = update.update_id + 1
            else:
                if skip_to is not None:
                    offset = max(offset or 0, skip_to)
        await self._confirm(offset)

    def _readable(self, data: object) -> tuple[list[Update], int | None]:
        """The updates of a getUpdates answer that parse, and the highest update_id in it
        (None when the answer has no update list at all). Each one that does not parse is
        logged with its id and skipped."""
        items = data.get("result") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return [], None
        good: list[Update] = []
        last: int | None = None
        for item in items:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if isinstance(update_id, int):
                last = update_id if last is None else max(last, update_id)
            try:
                good.append(Update.model_validate(item, context={"bot": self.bot}))
            except ValidationError as exc:
                log.warning(
                    "skipped an update that is not a valid Telegram update",
                    extra={"update_id": update_id, "error": str(exc.errors()[:3])[:500]},
                )
        return good, last

    async def _confirm(self, offset: int | None) -> None:
        """Tell Telegram the processed updates are done, so a restart does not get them."""
        if offset is None:
            return
        try:
            await self.bot(GetUpdates(offset=offset, timeout=0, limit=1))
        except TelegramAPIError as exc:
            log.warning("could not confirm updates on stop", extra={"error": str(exc)})

    async def _process(self, update: Update, stop: asyncio.Event) -> bool:
        """Handle one update; False when stopping before it could be handled."""
        backoff = BACKOFF_START_S
        while True:
            try:
                await self.dispatcher.feed_update(self.bot, update)
            except TransientError as exc:
                log.warning(
                    "update not handled yet; retrying",
                    extra={"update_id": update.update_id, "error": str(exc)},
                )
                if await _sleep_unless(stop, backoff):
                    return False
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            except Exception:
                # A bug or a reply Telegram refused: log it and go on (never loop on it).
                log.exception("update failed", extra={"update_id": update.update_id})
            return True

    def _origin(self, message: Message, update: Update) -> Origin | None:
        if message.from_user is None:
            return None
        return Origin(
            platform="telegram",
            platform_user_id=str(message.from_user.id),
            chat_id=str(message.chat.id),
            delivery_id=f"{self.bot.id}:{update.update_id}",
        )

    async def _on_text(self, message: Message, event_update: Update) -> None:
        origin = self._origin(message, event_update)
        text = message.text or ""
        if origin is None:
            return
        if message.chat.type != "private" and not text.startswith("/"):
            return  # in groups only commands (and /ask) are for the bot
        reply = await self.runtime.service.handle(origin, parse_command(text))
        if reply.text:
            await self._answer(origin.chat_id, reply.text)
        elif reply.answer_pending:
            with contextlib.suppress(TelegramAPIError):  # "typing..." until the answer comes
                await self.bot.send_chat_action(_chat(origin.chat_id), "typing")

    async def _on_other(self, message: Message) -> None:
        if message.chat.type == "private":
            await self._answer(str(message.chat.id), "I read text messages only. Send /help.")

    async def _answer(self, chat_id: str, text: str) -> None:
        try:
            await send_text(self.bot, chat_id, text)
        except PermanentError as exc:
            log.warning("reply not deliverable", extra={"chat_id": chat_id, "error": str(exc)})
