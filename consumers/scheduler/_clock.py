"""The scheduler's clock is injected: the system clock in production, a manual clock in tests
and simulations (so a test moves time by an hour without waiting an hour)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current instant (timezone-aware)."""


def system_clock() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; share one instance between schedulers."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (seconds or a timedelta); returns the new instant."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            msg = "a clock does not move backwards"
            raise ValueError(msg)
        self._now += step
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)
