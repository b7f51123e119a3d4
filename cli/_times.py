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
