"""Rate limits planned, not hit: X answers every request with ``x-rate-limit-limit``,
``x-rate-limit-remaining`` and ``x-rate-limit-reset`` (epoch seconds) for its endpoint. The
planner spreads the remaining requests evenly over what is left of the window, never lets a
request go while the window is exhausted, and after a 429 waits until the reset (X sends no
Retry-After). Pure: it takes the time as a number."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

DEFAULT_WINDOW_S: Final = 15 * 60.0
"""X's rate-limit window; the wait after a 429 that came without a reset header."""
MIN_429_WAIT_S: Final = 1.0
"""A 429 whose reset is already past (clock skew) still waits this long."""


@dataclass
class Window:
    """What the last answer of one endpoint said, and when the next request may go."""

    remaining: int | None = None
    reset: float | None = None
    next_at: float = 0.0


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RateLimitPlanner:
    """When the next request to each endpoint may be sent."""

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}

    def wait_s(self, endpoint: str, now: float) -> float:
        """Seconds to wait before the next request to ``endpoint`` (0: send now)."""
        window = self.windows.get(endpoint)
        return 0.0 if window is None else max(0.0, window.next_at - now)

    def observe(self, endpoint: str, status: int, headers: Mapping[str, str], now: float) -> Window:
        """Take in one answer's status and rate-limit headers, received at ``now``."""
        remaining = _number(headers, "x-rate-limit-remaining")
        reset = _number(headers, "x-rate-limit-reset")
        window = self.windows.setdefault(endpoint, Window())
        window.remaining = None if remaining is None else int(remaining)
        window.reset = reset
        if status == 429:
            window.remaining = 0
            until = reset if reset is not None else now + DEFAULT_WINDOW_S
            window.next_at = max(until, now + MIN_429_WAIT_S)
        elif window.remaining is None or reset is None or reset <= now:
            window.next_at = now
        elif window.remaining <= 0:
            window.next_at = reset
        else:
            window.next_at = now + (reset - now) / window.remaining
        return window
