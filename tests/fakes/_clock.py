"""A clock that moves only when the test moves it: seconds since the epoch, as the notifier's
ledger, parking and rate limiter read ``time.time``."""

from __future__ import annotations

T0 = 1_800_000_000.0


class ManualClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
