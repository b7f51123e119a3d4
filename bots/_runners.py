"""Entry points ``ixo run telegram-bot|discord-bot`` call: run a bot in the foreground until
``stop`` is set, or, without one, until SIGTERM/SIGINT; either way it stops cleanly (the message
in hand is finished, processed Telegram updates are confirmed, connections are closed)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

from bots._discord import DiscordBot
from bots._telegram import TelegramBot
from infra.settings import Settings


@contextlib.contextmanager
def _signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def run_telegram_bot(
    settings: Settings, *, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None
) -> None:
    """Run the Telegram bot (long polling) until ``stop`` is set or a SIGTERM/SIGINT arrives.

    ``ready`` is set once it polls and its subscribers have their partitions.
    Raises :class:`bots.BotConfigError` when the token is missing or refused.
    """
    bot = TelegramBot(settings)
    if stop is not None:
        await bot.run(stop, ready)
        return
    own = asyncio.Event()
    with _signals(own):
        await bot.run(own, ready)


async def run_discord_bot(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Run the Discord bot's interaction endpoint on ``host:port`` (default
    ``settings.gateway_host`` and port 8081; ``POST /`` or ``/interactions``) until ``stop`` is
    set or a SIGTERM/SIGINT arrives. ``ready`` is set once it serves and its subscribers have
    their partitions. Raises :class:`bots.BotConfigError` on a missing token or bad key."""
    bot = DiscordBot(settings, host=host, port=port)
    if stop is not None:
        await bot.run(stop, ready)
        return
    own = asyncio.Event()
    with _signals(own):
        await bot.run(own, ready)
