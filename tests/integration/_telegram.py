"""Driving the Telegram bot in tests: run it as `ixo run telegram-bot` does, against the
Telegram stand-in, and talk to it as a user in one private chat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bots import run_telegram_bot
from infra.settings import Settings
from infra.stack.standins import TelegramStandin
from services import IdentityService

CHAT = 7001
"""The user's private chat (its id is the user's Telegram id)."""


@asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[None]:
    """The bot, started and ready (its start-up error raised) for the block; stopped after."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_telegram_bot(settings, stop=stop, ready=ready))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiting}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiting.cancel()
        await task  # raises the bot's start-up error
    assert ready.is_set(), "the Telegram bot did not become ready"
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def reply_to(
    tg: TelegramStandin, text: str, *, chat: int = CHAT, **kwargs: Any
) -> tuple[int, str]:
    """Send a message as the user of the private ``chat``; the update id and the bot's next
    reply in the chat."""
    before = len(tg.texts(chat))
    update = tg.push_message(text, chat_id=chat, **kwargs)
    await tg.wait_for(lambda: len(tg.texts(chat)) > before, timeout=20)
    return int(update["update_id"]), tg.texts(chat)[before]


async def link_chat(
    tg: TelegramStandin, identity: IdentityService, user_id: str, *, chat: int = CHAT
) -> int:
    """Link the user of the private ``chat`` to ``user_id`` (created first) as a person does:
    a one-time code issued to the user, sent to the bot as ``/start CODE``; the update id."""
    await identity.create_user(user_id)
    code = await identity.issue_link_code(user_id)
    update_id, answer = await reply_to(tg, f"/start {code.code}", chat=chat)
    assert answer.startswith(f"This account is now linked to Impressox user {user_id}."), answer
    return update_id
