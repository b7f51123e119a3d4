"""Chat sessions of the bots: one session per platform chat (``telegram:<chat id>``,
``discord:<channel id>``), so the agent keeps one conversation per chat and each bot finds the
answers meant for it on ``ixo.chat.responses`` by the session id alone."""

from __future__ import annotations

from typing import Final, get_args

from bots._types import BotPlatform, LinkStore, Origin

PLATFORMS: Final[tuple[BotPlatform, ...]] = get_args(BotPlatform)


def session_id(platform: BotPlatform, chat_id: str) -> str:
    return f"{platform}:{chat_id}"


def parse_session(value: str) -> tuple[BotPlatform, str] | None:
    """``(platform, chat id)`` of a bot session id; None for sessions of other channels."""
    platform, sep, chat_id = value.partition(":")
    if not sep or not chat_id:
        return None
    for known in PLATFORMS:
        if platform == known:
            return known, chat_id
    return None


async def user_of(origin: Origin, links: LinkStore) -> str | None:
    """The Impressox user behind a delivery: the one its account is linked to (by a redeemed
    link code), else None. The link is the only source of a bot user's id."""
    link = await links.get(origin.platform, origin.platform_user_id)
    return None if link is None else link.user_id
