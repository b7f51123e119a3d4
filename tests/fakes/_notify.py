"""An in-memory :class:`consumers.notifier.RateLimiter`: the same GCRA token bucket as
:class:`consumers.notifier.RedisRateLimiter` (whole milliseconds), for unit tests and the
limiter's contract suite."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class MemoryRateLimiter:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tat: dict[str, int] = {}

    async def reserve(self, bucket: str, rate_per_s: float, burst: int) -> float:
        interval = max(1, math.ceil(1000 / rate_per_s))
        now = int(self._clock() * 1000)
        tat = max(self._tat.get(bucket, 0), now)
        wait = max(0, tat - (max(1, burst) - 1) * interval - now)
        self._tat[bucket] = tat + interval
        return wait / 1000
