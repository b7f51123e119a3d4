"""Parse the times operators type: ``--since 2024-05-01T12:00:00Z`` or ``--since 15m``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from cli._errors import UsageError

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """An aware UTC datetime from ISO 8601 (naive means UTC) or a duration ago (``90s``, ``2h``)."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        msg = (
            f"--since {text!r}: expected an ISO 8601 time (2024-05-01T12:00:00Z) "
            "or a duration ago (30s, 15m, 2h, 7d)"
        )
        raise UsageError(msg) from None
    if found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return found.astimezone(UTC)


def age(seconds: float | None) -> str:
    """A duration for people: ``0s``, ``42s``, ``3m 04s``, ``2h 05m``, ``3d 4h``; ``?`` unknown."""
    if seconds is None:
        return "?"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"
