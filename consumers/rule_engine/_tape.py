"""A symbol's price memory: the previous price (for crossings) and a price history for the
pct_change windows in use.

The history keeps at most one point per second of tick time: the first tick of each second
(a tick whose second is not newer than the last point's is not recorded). The reference of a
window of ``w`` seconds for a tick at time ``t`` is the oldest point at or after ``t - w``; so with
ticks every second or slower the reference is exactly the oldest tick in the window. The live
engine (whose tape lives in Redis) and the backtest (in memory) run this same code.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from decimal import Context, Decimal
from types import MappingProxyType
from typing import Final

from consumers.rule_engine._matching import TickContext, TickPoint

PCT: Final = Context(prec=28)
HUNDRED: Final = Decimal(100)
TRIM_AT: Final = 4096
_NONE: Mapping[int, Decimal] = MappingProxyType({})
_NO_REFS: Mapping[int, tuple[int, Decimal]] = MappingProxyType({})


def pct_change(price: Decimal, reference: Decimal) -> Decimal:
    """(price - reference) / reference * 100, at 28 significant digits."""
    return PCT.multiply(PCT.divide(PCT.subtract(price, reference), reference), HUNDRED)


class Tape:
    """The previous price and the pct_change history of one symbol."""

    __slots__ = (
        "appended",
        "hist_px",
        "hist_ts",
        "history_second",
        "last_price",
        "last_ts_ms",
        "loaded_second",
        "symbol",
        "windows",
    )

    def __init__(
        self,
        symbol: str,
        windows: Iterable[int] = (),
        *,
        last_price: Decimal | None = None,
        last_ts_ms: int | None = None,
        history: Iterable[tuple[int, Decimal]] = (),
        history_second: int | None = None,
    ) -> None:
        self.symbol = symbol
        self.windows: tuple[int, ...] = tuple(sorted(set(windows)))
        self.last_price = last_price
        self.last_ts_ms = last_ts_ms
        points = sorted(dict(history).items())
        self.hist_ts: list[int] = [ts for ts, _ in points]
        self.hist_px: list[Decimal] = [px for _, px in points]
        self.history_second = history_second
        self.loaded_second = history_second
        self.appended: list[tuple[int, Decimal]] = []
        """History points recorded by :meth:`advance` (what a store must persist)."""

    @property
    def longest_window_ms(self) -> int:
        return self.windows[-1] * 1000 if self.windows else 0

    @property
    def history_dropped(self) -> bool:
        """True when no pct_change window is left but a stored history is: a store drops it."""
        return not self.windows and self.loaded_second is not None

    def trim_before(self) -> int | None:
        """The tick time (ms) before which a store may drop its history points, or None.

        Trimming is lazy (older points never change a reference): only when the last point
        entered a new minute since the history was loaded."""
        if not self.windows or not self.appended:
            return None
        start = self.loaded_second
        if start is None or start // 60 != (self.history_second or 0) // 60:
            return self.appended[-1][0] - self.longest_window_ms
        return None

    def advance(self, tick: TickPoint) -> TickContext:
        """Record ``tick`` and return what rules see of it."""
        previous = self.last_price
        price = tick.price
        ts = tick.ts_ms
        self.last_price = price
        self.last_ts_ms = ts
        if not self.windows:
            return TickContext(tick, previous, _NONE, _NO_REFS)
        second = ts // 1000
        if self.history_second is None or second > self.history_second:
            self.history_second = second
            self.hist_ts.append(ts)
            self.hist_px.append(price)
            self.appended.append((ts, price))
            if len(self.hist_ts) > TRIM_AT:
                self._trim(ts)
        changes: dict[int, Decimal] = {}
        refs: dict[int, tuple[int, Decimal]] = {}
        hist_ts, hist_px = self.hist_ts, self.hist_px
        for window in self.windows:
            i = bisect_left(hist_ts, ts - window * 1000)
            if i < len(hist_ts):
                ref = hist_px[i]
                refs[window] = (hist_ts[i], ref)
                changes[window] = pct_change(price, ref)
        return TickContext(tick, previous, changes, refs)

    def _trim(self, now_ms: int) -> None:
        cut = bisect_left(self.hist_ts, now_ms - self.longest_window_ms)
        if cut > len(self.hist_ts) // 2:
            del self.hist_ts[:cut]
            del self.hist_px[:cut]
