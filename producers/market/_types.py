"""Types shared by the market feed modules: a tick with its ordering key, the source Protocol,
the replay's time options and clock Protocol."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from schemas import MarketTickV1


@dataclass(frozen=True, slots=True)
class SequencedTick:
    """A normalised tick and the venue's ordering key for its symbol.

    ``seq`` grows with every new observation of one symbol (the trade id for trade streams, the
    exchange event time for ticker streams, the row position for a file replay). The runner
    publishes a tick only if its ``seq`` is greater than the last one published for its symbol,
    which removes the duplicates and stale messages a reconnect brings.
    """

    tick: MarketTickV1
    seq: int


class TickSource(Protocol):
    """Where ticks come from: an exchange connection or a file replay."""

    @property
    def name(self) -> str:
        """The source's short name (``binance``, ``coinbase``, ``file``), used in logs and in
        the CloudEvents ``source`` (``/producers/market/<name>``)."""
        ...

    def ticks(self) -> AsyncGenerator[SequencedTick, None]:
        """Ticks in arrival order. Exchange sources never end; a replay ends unless it loops."""
        ...


class TickTimes(StrEnum):
    """Which exchange times a file replay publishes."""

    ORIGINAL = "original"
    """The file's own times (shifted forward by whole passes when looping): reproducible runs."""
    NOW = "now"
    """Times moved to the present as the replay plays; the relative spacing is kept."""


class ReplayClock(Protocol):
    """The clocks a replay paces itself and dates its ticks by (tests pass a manual one)."""

    def wall(self) -> datetime:
        """The current UTC time (where re-based timestamps start)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (what pacing is measured on)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on the monotonic clock."""
        ...
