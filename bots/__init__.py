"""Chat-platform clients: a Telegram bot (aiogram 3, long polling) and a Discord bot (hikari,
slash commands over a verified HTTP interaction endpoint), sharing one command and session
layer. The bots publish events only (rule events, chat requests, user links) and answer from the
read models and from ``ixo.chat.responses``.

``ixo run telegram-bot|discord-bot`` runs :func:`run_telegram_bot` / :func:`run_discord_bot`.
"""

from bots._answers import Answers, AnswerSink
from bots._commands import (
    AlertCreate,
    AlertDelete,
    AlertList,
    BadCommand,
    ChatText,
    Command,
    HelpRequest,
    PriceQuery,
    StartLink,
    command_from_options,
    command_from_tokens,
    parse_command,
    parse_symbol,
    parse_window,
    usage,
)
from bots._discord import DiscordBot, DiscordSink, InteractionTokens, slash_commands, verify_request
from bots._errors import BotConfigError, DeliveryBusy
from bots._ids import (
    NAMESPACE,
    delivery_event_id,
    event_id_of,
    link_id,
    rule_id_for,
)
from bots._links import RedisLinks
from bots._once import RedisOnce
from bots._runners import run_discord_bot, run_telegram_bot
from bots._runtime import BotRuntime
from bots._service import BotService
from bots._sessions import parse_session, session_id, user_of
from bots._telegram import TelegramBot, TelegramSink, send_text
from bots._types import (
    AlertView,
    BotPlatform,
    Link,
    LinkStore,
    OnceStore,
    Origin,
    PriceView,
    Reply,
)

__all__ = [
    "NAMESPACE",
    "AlertCreate",
    "AlertDelete",
    "AlertList",
    "AlertView",
    "AnswerSink",
    "Answers",
    "BadCommand",
    "BotConfigError",
    "BotPlatform",
    "BotRuntime",
    "BotService",
    "ChatText",
    "Command",
    "DeliveryBusy",
    "DiscordBot",
    "DiscordSink",
    "HelpRequest",
    "InteractionTokens",
    "Link",
    "LinkStore",
    "OnceStore",
    "Origin",
    "PriceQuery",
    "PriceView",
    "RedisLinks",
    "RedisOnce",
    "Reply",
    "StartLink",
    "TelegramBot",
    "TelegramSink",
    "command_from_options",
    "command_from_tokens",
    "delivery_event_id",
    "event_id_of",
    "link_id",
    "parse_command",
    "parse_session",
    "parse_symbol",
    "parse_window",
    "rule_id_for",
    "run_discord_bot",
    "run_telegram_bot",
    "send_text",
    "session_id",
    "slash_commands",
    "usage",
    "user_of",
    "verify_request",
]
