"""Whose chats a rule or a schedule may write to: only chats linked to the user (or the chat the
command came from, when a bot vouches for it). Without this, a user could send alerts or
scheduled answers into anyone's Telegram or Discord chat."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from readmodels import ReadModels
from schemas import InvalidEvent

CHAT_KINDS = frozenset({"telegram", "discord"})

Chat = tuple[str, str]
"""(platform, chat id)."""


async def check_own_chats(
    reads: ReadModels,
    user_id: str,
    chats: Iterable[Chat],
    *,
    trusted: Collection[Chat] | None,
    field: str,
) -> None:
    """Refuse (``InvalidEvent`` on ``field``) a Telegram or Discord chat that is not linked to
    ``user_id``. ``trusted`` chats pass without a lookup (a bot's own origin chat); ``None``
    trusts every chat (an operator's CLI)."""
    if trusted is None:
        return
    wanted = {(kind, target) for kind, target in chats if kind in CHAT_KINDS}
    unknown = wanted - set(trusted)
    if not unknown:
        return
    linked = {(link.platform, link.chat_id) for link in await reads.links(user_id)}
    refused = sorted(unknown - linked)
    if refused:
        kind, target = refused[0]
        msg = (
            f"{kind}:{target} is not a chat linked to you (link it with /start CODE in that "
            "chat first)"
        )
        raise InvalidEvent(msg, kind="invalid_event", field=field)
