"""Telegram adapter: aiogram's ``Bot`` on a session pointed at a configurable Bot API server;
aiogram's errors mapped to retryable/rejected here."""

from __future__ import annotations

import math

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    RestartingTelegram,
    TelegramAPIError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import LinkPreviewOptions

from consumers.notifier._errors import RejectedDelivery, RetryableDelivery
from consumers.notifier._render import event_text
from consumers.notifier._types import Job

MAX_TEXT = 4096


def telegram_bot(token: str, api_url: str) -> Bot:
    """An aiogram ``Bot`` talking to ``api_url`` (``https://api.telegram.org`` or a stand-in)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    return Bot(token, session=session)


def _chat_id(target: str) -> int | str:
    try:
        return int(target)
    except ValueError:
        if target.startswith("@"):
            return target
        msg = f"telegram: {target!r} is not a chat id or @channel"
        raise RejectedDelivery(msg) from None


class TelegramSender:
    """Sends the notification text to the chat id in the channel's target."""

    def __init__(self, bot: Bot, *, timeout_s: float = 10.0) -> None:
        self.bot = bot
        self._timeout = max(1, math.ceil(timeout_s))

    async def send(self, job: Job) -> None:
        chat = _chat_id(job.channel.target)
        text = event_text(job.event)[:MAX_TEXT]
        try:
            await self.bot.send_message(
                chat_id=chat,
                text=text,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                request_timeout=self._timeout,
            )
        except TelegramRetryAfter as exc:
            msg = f"telegram: {exc.message}"
            raise RetryableDelivery(msg, retry_after=float(exc.retry_after)) from None
        except TelegramMigrateToChat as exc:
            msg = f"telegram: chat moved to {exc.migrate_to_chat_id}; update the rule's channel"
            raise RejectedDelivery(msg) from None
        except (TelegramServerError, RestartingTelegram, TelegramNetworkError) as exc:
            msg = f"telegram: {exc.message}"
            raise RetryableDelivery(msg) from None
        except TelegramAPIError as exc:  # 400 chat not found, 403 blocked, 401, 404...
            msg = f"telegram: {exc.message}"
            raise RejectedDelivery(msg) from None

    async def close(self) -> None:
        await self.bot.session.close()
