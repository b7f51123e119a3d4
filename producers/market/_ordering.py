"""Per-symbol ordering: publish a tick only when it is newer than the last one published."""

from __future__ import annotations


class SequenceGuard:
    """Remembers the last ordering key published per symbol.

    A reconnect often re-sends trades that were already seen (a snapshot of the last trade, or a
    replayed tail); a slow path can deliver an older message late. Both are dropped, so the ticks
    of one symbol on the topic are unique and in order.
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def admit(self, symbol: str, seq: int) -> bool:
        """True (and remember ``seq``) if ``seq`` is newer than the symbol's last; else False."""
        last = self._last.get(symbol)
        if last is not None and seq <= last:
            return False
        self._last[symbol] = seq
        return True

    def last(self, symbol: str) -> int | None:
        return self._last.get(symbol)
