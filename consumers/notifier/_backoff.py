"""Retry delays: exponential with jitter, never shorter than what the service asked for."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """``delay(n)`` after the n-th failed attempt (n >= 1): a random value in
    ``[cap/2, cap]`` with ``cap = min(max_s, base_s * 2**(n-1))`` ("equal jitter": spreads
    retries of many deliveries without ever retrying at once). A ``retry_after`` from the
    service (Telegram's ``parameters.retry_after``, Discord's 429, a webhook's ``Retry-After``)
    is honoured as a floor, plus up to ``jitter_s`` so a crowd does not come back together."""

    base_s: float = 0.5
    max_s: float = 30.0
    jitter_s: float = 0.25

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        if retry_after is not None:
            return max(0.0, retry_after) + rand() * self.jitter_s
        cap = min(self.max_s, self.base_s * 2 ** max(0, attempt - 1))
        return float(cap / 2 + rand() * cap / 2)
