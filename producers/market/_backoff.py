"""Exponential backoff with jitter, for reconnecting to an exchange."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

_MAX_EXPONENT = 64  # beyond this the cap applies anyway; avoids float overflow


@dataclass(frozen=True)
class Backoff:
    """How long to wait before reconnect attempt ``n`` (0-based).

    The ceiling grows as ``initial_s * factor**n`` up to ``max_s``; ``jitter`` is the fraction of
    it that is random, so the delay lies in ``[ceiling * (1 - jitter), ceiling]``. ``jitter=1`` is
    "full jitter"; the default 0.5 spreads clients that lost one exchange at the same moment while
    keeping a floor.
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial_s <= 0:
            msg = f"initial_s must be > 0, got {self.initial_s}"
            raise ValueError(msg)
        if self.max_s < self.initial_s:
            msg = f"max_s ({self.max_s}) must be >= initial_s ({self.initial_s})"
            raise ValueError(msg)
        if self.factor < 1:
            msg = f"factor must be >= 1, got {self.factor}"
            raise ValueError(msg)
        if not 0 <= self.jitter <= 1:
            msg = f"jitter must be between 0 and 1, got {self.jitter}"
            raise ValueError(msg)

    def ceiling(self, attempt: int) -> float:
        """The delay before attempt ``attempt`` without jitter."""
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        return min(self.max_s, self.initial_s * self.factor**exponent)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The jittered delay before attempt ``attempt``; ``rand`` returns floats in [0, 1)."""
        return self.ceiling(attempt) * (1 - self.jitter * rand())
