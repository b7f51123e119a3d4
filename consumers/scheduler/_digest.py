"""The text of a user's alert digest (plain text: the bots send it as is)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from consumers.scheduler._types import AlertLine

MAX_LINES: Final = 20

_WORDS: Final = {
    "above": "above",
    "below": "below",
    "crosses_above": "crossed above",
    "crosses_below": "crossed below",
    "pct_change": "moved",
}


def _at(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _condition(line: AlertLine) -> str:
    cond = line.condition
    kind = str(cond.get("kind", "?"))
    threshold = cond.get("threshold", "?")
    if kind == "pct_change":
        return f"moved {threshold}%"
    return f"{_WORDS.get(kind, kind)} {threshold}"


def digest_text(
    alerts: Sequence[AlertLine], *, start: datetime, end: datetime, tz: ZoneInfo
) -> str:
    """A digest of ``alerts`` (oldest first) that triggered in ``(start, end]``, times shown in
    ``tz``; at most :data:`MAX_LINES` alerts are listed, then a count of the rest."""
    span = f"{_at(start, tz)} - {_at(end, tz)} ({tz.key})"
    if not alerts:
        return f"Alert digest, {span}: no alerts triggered."
    count = len(alerts)
    symbols = sorted({a.symbol for a in alerts})
    noun = "alert" if count == 1 else "alerts"
    lines = [f"Alert digest, {span}: {count} {noun} on {', '.join(symbols)}."]
    for alert in alerts[-MAX_LINES:]:
        lines.append(
            f"{_at(alert.triggered_at, tz)}  {alert.symbol} at {alert.price}"
            f" ({_condition(alert)}, rule {alert.rule_id})"
        )
    if count > MAX_LINES:
        lines.insert(1, f"(the latest {MAX_LINES} of {count})")
    return "\n".join(lines)
