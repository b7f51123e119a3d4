"""The texts the bots answer with (plain text: no markup to escape on either platform)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from bots._types import AlertView, PriceView
from readmodels import Rule, Schedule
from schemas import Condition, decimal_str
from services import ScheduleDraft, describe_schedule, next_run

TELEGRAM_MAX_TEXT: Final = 4096
DISCORD_MAX_TEXT: Final = 2000

_KIND_WORDS: Final = {
    "above": "above",
    "below": "below",
    "crosses_above": "crosses above",
    "crosses_below": "crosses below",
}


def describe_condition(condition: Condition | dict[str, Any]) -> str:
    cond = condition if isinstance(condition, Condition) else Condition.model_validate(condition)
    threshold = decimal_str(cond.threshold)
    if cond.kind == "pct_change":
        sign = "+" if cond.threshold > 0 else ""
        return f"moves {sign}{threshold}% within {_duration(cond.window_s or 0)}"
    return f"{_KIND_WORDS[cond.kind]} {threshold}"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def price_text(symbol: str, price: PriceView | None) -> str:
    if price is None:
        return f"No price for {symbol} yet."
    at = price.ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{price.symbol}: {price.price} ({price.venue}, {at})"


def alert_created_text(rule_id: str, symbol: str, condition: Condition) -> str:
    return (
        f"Alert {rule_id} set: {symbol} {describe_condition(condition)}.\n"
        f"Remove it with /unalert {rule_id}"
    )


def alert_deleted_text(rule_id: str) -> str:
    return f"Alert {rule_id} deleted."


def no_rule_text(rule_id: str) -> str:
    return f"You have no alert {rule_id}. /alerts lists yours."


def alerts_text(rules: Sequence[Rule], recent: Sequence[AlertView]) -> str:
    if not rules and not recent:
        return "You have no alerts. Set one with /alert SYMBOL above PRICE"
    lines = ["Your alerts:"] if rules else ["You have no alert rules."]
    for rule in rules:
        cond = describe_condition(rule.condition) if rule.condition else "?"
        lines.append(f"{rule.rule_id}  {rule.symbol} {cond}")
    if recent:
        lines.append("Latest matches:")
        for alert in recent:
            at = alert.triggered_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            lines.append(f"{at}  {alert.symbol} at {alert.price} ({alert.rule_id})")
    return "\n".join(lines)


def _what(prompt: str | None) -> str:
    return "a digest of your alerts" if prompt is None else f"ask the agent: {prompt}"


def _at(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def schedule_created_text(schedule_id: str, draft: ScheduleDraft) -> str:
    return (
        f"Schedule {schedule_id} set: {describe_schedule(draft)}, {_what(draft.prompt)}.\n"
        f"Next run: {_at(next_run(draft))}. Remove it with /unschedule {schedule_id}"
    )


def schedule_deleted_text(schedule_id: str) -> str:
    return f"Schedule {schedule_id} deleted."


def no_schedule_text(schedule_id: str) -> str:
    return f"You have no schedule {schedule_id}. /schedules lists yours."


def schedules_text(schedules: Sequence[Schedule], now: datetime | None = None) -> str:
    if not schedules:
        return "You have no schedules. Set one with /schedule 0 8 * * * summarise BTC"
    lines = ["Your schedules:"]
    for schedule in schedules:
        lines.append(
            f"{schedule.schedule_id}  {describe_schedule(schedule)}  {_what(schedule.prompt)}"
            f"  (next {_at(next_run(schedule, now))})"
        )
    return "\n".join(lines)


LINK_CODE_ROUTE: Final = "POST /v1/me/link-codes"

_HOW_TO_LINK: Final = (
    "Sign in to the Impressox web app and ask for a link code (or call "
    f"{LINK_CODE_ROUTE} on the gateway with your API token), then send /link CODE here. "
    "A code works once, within 10 minutes."
)


def linked_text(user_id: str) -> str:
    return f"This account is now linked to Impressox user {user_id}.\nSend /help for the commands."


def how_to_link_text(linked_to: str | None = None) -> str:
    """The answer to ``/start`` without a code."""
    if linked_to is not None:
        return (
            f"This account is linked to Impressox user {linked_to}. "
            f"To link it to another user: {_HOW_TO_LINK[:1].lower()}{_HOW_TO_LINK[1:]}"
        )
    return f"Welcome to Impressox. To link this account to your user: {_HOW_TO_LINK}"


def link_first_text() -> str:
    """The answer to a command that acts for a user, from an account that is not linked."""
    return f"Link this account first: {_HOW_TO_LINK}\n/help and /price work without a link."


def bad_code_text() -> str:
    """A code that is unknown, expired or used: one answer for all three (no oracle)."""
    return (
        "That link code is not valid: it is mistyped, expired (codes last 10 minutes) or "
        "used already. Nothing was linked. Ask for a new code on the web app "
        f"({LINK_CODE_ROUTE})."
    )


def wait_text(retry_after_s: int) -> str:
    """Too many wrong codes from this account: how long to wait, in whole minutes."""
    minutes = max(1, -(-retry_after_s // 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many wrong link codes from this account. Try again in {minutes} {unit}."


def unavailable_text() -> str:
    return "Sorry, Impressox is briefly unavailable. Please try again in a minute."


def busy_text() -> str:
    return "Still working on that message..."


def split_text(text: str, limit: int) -> list[str]:
    """Split a long answer into messages of at most ``limit`` characters, at line breaks when
    possible."""
    out: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        out.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest:
        out.append(rest)
    return out
