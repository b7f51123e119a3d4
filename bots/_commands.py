"""The bot command language, parsed without any service: a message's text (Telegram) or a slash
command's options (Discord) become one :data:`Command` value.

    /price SYMBOL
    /alert SYMBOL above|below|crosses_above|crosses_below|pct PRICE_OR_PCT [WINDOW]
    /alerts
    /unalert ID
    /schedule CRON|every WINDOW|@ALIAS [tz=ZONE] PROMPT|digest
    /schedules
    /unschedule ID
    /start [CODE], /link CODE   (a one-time link code from the web app or the gateway)
    /help
    /ask TEXT            (and any text that is not a command)

A command that does not parse becomes :class:`BadCommand` carrying a short usage message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from pydantic import ValidationError

from schemas import Condition, ConditionKind, normalise_symbol

MAX_CHAT_TEXT: Final = 4000
DEFAULT_PCT_WINDOW_S: Final = 3600
MAX_ID_LEN: Final = 200

_ID = re.compile(r"^[A-Za-z0-9_.:@\-]+$")
_WINDOW = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_CRON_MINUTE = re.compile(r"^[0-9*/,\-]+$")
CRON_FIELDS: Final = 5
MIN_EVERY_S: Final = 60
DIGEST_WORD: Final = "digest"

KINDS: Final[dict[str, ConditionKind]] = {
    "above": "above",
    "below": "below",
    "crosses_above": "crosses_above",
    "crosses_below": "crosses_below",
    "pct": "pct_change",
    "pct_change": "pct_change",
}

USAGE: Final[dict[str, str]] = {
    "price": "/price SYMBOL - the latest price, e.g. /price BTCUSDT",
    "alert": (
        "/alert SYMBOL above|below|crosses_above|crosses_below PRICE, or "
        "/alert SYMBOL pct PERCENT [WINDOW] - e.g. /alert BTCUSDT above 70000, "
        "/alert ETHUSDT pct -5 1h (window like 30m, 4h, 1d; default 1h)"
    ),
    "alerts": "/alerts - your alert rules and their latest matches",
    "unalert": "/unalert ID - delete one of your alert rules (ids are in /alerts)",
    "schedule": (
        "/schedule WHEN [tz=ZONE] PROMPT|digest - ask the agent (or get an alert digest) on a "
        "schedule; WHEN: 5 cron fields, every 4h or @daily - e.g. "
        "/schedule 0 8 * * * tz=Europe/Paris summarise BTC"
    ),
    "schedules": "/schedules - your schedules and their next runs",
    "unschedule": "/unschedule ID - delete one of your schedules (ids are in /schedules)",
    "start": "/start [CODE] - link this account to your Impressox user with a one-time code",
    "link": "/link CODE - link this account with a one-time code (get one on the web app)",
    "ask": "/ask TEXT - ask the agent (plain text works too)",
    "help": "/help - this list",
}


def usage(name: str | None = None) -> str:
    """The usage line of one command, or of all of them."""
    if name is not None and name in USAGE:
        return "Usage: " + USAGE[name]
    return "Commands:\n" + "\n".join(USAGE.values())


@dataclass(frozen=True, slots=True)
class PriceQuery:
    symbol: str


@dataclass(frozen=True, slots=True)
class AlertCreate:
    symbol: str
    condition: Condition


@dataclass(frozen=True, slots=True)
class AlertList:
    pass


@dataclass(frozen=True, slots=True)
class AlertDelete:
    rule_id: str


@dataclass(frozen=True, slots=True)
class ScheduleCreate:
    """Run ``prompt`` (or, when None, a digest of the user's alerts) on ``cron`` in
    ``timezone`` or every ``every_s`` seconds. Cron and zone are checked by the service."""

    cron: str | None
    every_s: int | None
    timezone: str
    prompt: str | None


@dataclass(frozen=True, slots=True)
class ScheduleList:
    pass


@dataclass(frozen=True, slots=True)
class ScheduleDelete:
    schedule_id: str


@dataclass(frozen=True, slots=True)
class StartLink:
    """Link the account with a one-time ``code`` (``/start CODE``, ``/link CODE``); without a
    code, say how to get one. The code is checked by the service, never here."""

    code: str | None = None


@dataclass(frozen=True, slots=True)
class HelpRequest:
    pass


@dataclass(frozen=True, slots=True)
class ChatText:
    """Free text for the agent."""

    text: str


@dataclass(frozen=True, slots=True)
class BadCommand:
    """A command that does not parse: ``message`` says why, with the usage."""

    message: str


Command = (
    PriceQuery
    | AlertCreate
    | AlertList
    | AlertDelete
    | ScheduleCreate
    | ScheduleList
    | ScheduleDelete
    | StartLink
    | HelpRequest
    | ChatText
    | BadCommand
)


class _Bad(Exception):  # noqa: N818 - internal control flow, never escapes this module
    pass


def parse_command(text: str) -> Command:
    """Parse a message. Text not starting with ``/`` is a chat request."""
    stripped = text.strip()
    if not stripped:
        return BadCommand(usage())
    if not stripped.startswith("/"):
        return _chat(stripped)
    head, _, rest = stripped.partition(" ")
    # Telegram adds the bot's name in groups: /price@ImpressoxBot BTCUSDT
    name = head[1:].split("@", 1)[0].lower()
    if name == "ask":
        return _chat(rest.strip(), name="ask")
    if name == "schedule":
        return _scheduled(rest)
    return command_from_tokens(name, rest.split())


def command_from_tokens(name: str, args: Sequence[str]) -> Command:
    """A command by name with its arguments as words."""
    try:
        return _build(name, list(args))
    except _Bad as bad:
        return BadCommand(f"{bad}\n{usage(name)}" if str(bad) else usage(name))


def command_from_options(name: str, options: Mapping[str, str]) -> Command:
    """A Discord slash command: its name and its options by name (values as strings)."""
    if name == "ask":
        return _chat(options.get("text", "").strip(), name="ask")
    if name == "schedule":
        tz = options.get("tz", "").strip()
        parts = [options.get("when", ""), f"tz={tz}" if tz else "", options.get("prompt", "")]
        return _scheduled(" ".join(p.strip() for p in parts if p.strip()))
    order = {
        "price": ("symbol",),
        "alert": ("symbol", "condition", "value", "window"),
        "unalert": ("id",),
        "unschedule": ("id",),
        "start": ("code",),
        "link": ("code",),
    }.get(name, ())
    args = [options[key].strip() for key in order if options.get(key, "").strip()]
    return command_from_tokens(name, args)


def _chat(text: str, *, name: str | None = None) -> Command:
    if not text:
        return BadCommand(usage(name or "ask"))
    if len(text) > MAX_CHAT_TEXT:
        return BadCommand(f"That message is too long (at most {MAX_CHAT_TEXT} characters).")
    return ChatText(text)


def _build(name: str, args: list[str]) -> Command:  # noqa: PLR0911 - one branch per command
    if name in ("help", "commands"):
        return HelpRequest()
    if name == "price":
        _arity(args, 1, 1)
        return PriceQuery(parse_symbol(args[0]))
    if name == "alert":
        _arity(args, 3, 4)
        return _alert(args)
    if name == "alerts":
        _arity(args, 0, 0)
        return AlertList()
    if name == "unalert":
        _arity(args, 1, 1)
        return AlertDelete(_id(args[0], "alert id"))
    if name == "schedule":
        return _scheduled(" ".join(args))
    if name == "schedules":
        _arity(args, 0, 0)
        return ScheduleList()
    if name == "unschedule":
        _arity(args, 1, 1)
        return ScheduleDelete(_id(args[0], "schedule id"))
    if name == "start":
        _arity(args, 0, 1)
        return StartLink(_id(args[0], "link code") if args else None)
    if name == "link":
        _arity(args, 1, 1)
        return StartLink(_id(args[0], "link code"))
    msg = f"Unknown command /{name}."
    return BadCommand(f"{msg}\n{usage()}")


def _arity(args: list[str], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise _Bad


def parse_symbol(text: str) -> str:
    """``btc``, ``btc/usdt``, ``BTC-USDT`` or ``btcusdt`` to ``BTCUSDT`` (the platform's one
    normalisation, :func:`schemas.normalise_symbol`)."""
    try:
        return normalise_symbol(text)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


def parse_window(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``4h`` or ``1d`` to seconds."""
    match = _WINDOW.match(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        msg = f"{text!r} is not a window (like 30m, 4h or 1d)."
        raise _Bad(msg)
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def _number(text: str, *, pct: bool) -> Decimal:
    raw = text.strip().replace(",", "").removeprefix("$")
    if pct:
        raw = raw.removesuffix("%")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        what = "percentage" if pct else "price"
        msg = f"{text!r} is not a {what}."
        raise _Bad(msg)
    return value


def _alert(args: list[str]) -> AlertCreate:
    symbol = parse_symbol(args[0])
    kind = KINDS.get(args[1].lower().replace("-", "_"))
    if kind is None:
        msg = f"{args[1]!r} is not a condition."
        raise _Bad(msg)
    pct = kind == "pct_change"
    threshold = _number(args[2], pct=pct)
    window: int | None = None
    if len(args) == 4:
        if not pct:
            msg = "A window applies to pct alerts only."
            raise _Bad(msg)
        window = parse_window(args[3])
    elif pct:
        window = DEFAULT_PCT_WINDOW_S
    try:
        condition = Condition(kind=kind, threshold=threshold, window_s=window)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        reason = str(first["msg"]).removeprefix("Value error, ")
        msg = f"{reason[:1].upper()}{reason[1:]}."
        raise _Bad(msg) from None
    return AlertCreate(symbol, condition)


def _id(text: str, what: str) -> str:
    if len(text) > MAX_ID_LEN or not _ID.match(text):
        msg = f"{text!r} is not a valid {what}."
        raise _Bad(msg)
    return text


def _scheduled(text: str) -> Command:
    try:
        return _schedule(text.split())
    except _Bad as bad:
        return BadCommand(f"{bad}\n{usage('schedule')}" if str(bad) else usage("schedule"))


def _schedule(words: list[str]) -> ScheduleCreate:
    """``WHEN [tz=ZONE] PROMPT|digest`` where WHEN is ``every WINDOW``, ``@alias`` or 5 cron
    fields."""
    if not words:
        raise _Bad
    cron: str | None = None
    every_s: int | None = None
    if words[0].lower() == "every":
        if len(words) < 2:
            raise _Bad
        every_s = parse_window(words[1])
        if every_s < MIN_EVERY_S:
            msg = "A schedule runs at most once a minute (every 1m or more)."
            raise _Bad(msg)
        rest = words[2:]
    elif words[0].startswith("@"):
        cron, rest = words[0].lower(), words[1:]
    else:
        if not _CRON_MINUTE.match(words[0]) or len(words) < CRON_FIELDS:
            msg = "Start with when to run: 5 cron fields (like 0 8 * * *), every 4h, or @daily."
            raise _Bad(msg)
        cron, rest = " ".join(words[:CRON_FIELDS]), words[CRON_FIELDS:]
    timezone = "UTC"
    if rest and rest[0].lower().startswith(("tz=", "tz:")):
        timezone, rest = rest[0][3:], rest[1:]
    text = " ".join(rest)
    if not text:
        msg = "Say what to run: a prompt for the agent, or digest."
        raise _Bad(msg)
    if len(text) > MAX_CHAT_TEXT:
        msg = f"That prompt is too long (at most {MAX_CHAT_TEXT} characters)."
        raise _Bad(msg)
    prompt = None if text.lower() == DIGEST_WORD else text
    return ScheduleCreate(cron=cron, every_s=every_s, timezone=timezone, prompt=prompt)
