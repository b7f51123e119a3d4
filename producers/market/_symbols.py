"""Symbol names: one canonical form (``BTCUSDT``, as ``MarketTickV1.symbol``) for every venue."""

from __future__ import annotations

import re

from producers.market._errors import SourceError

_CANONICAL = re.compile(r"^[A-Z0-9]{2,20}$")
_SEPARATORS = re.compile(r"[-_/]")


def canonical_symbol(text: str) -> str:
    """``btc-usd``, ``BTC/USD`` or ``BTCUSD`` to ``BTCUSD``; else :class:`SourceError`."""
    symbol = _SEPARATORS.sub("", text.strip()).upper()
    if not _CANONICAL.match(symbol):
        msg = f"not a market symbol: {text!r} (expected letters and digits, like BTCUSDT)"
        raise SourceError(msg)
    return symbol


def parse_symbols(text: str) -> list[str]:
    """A comma-separated list (``"BTCUSDT, ethusdt"``) to symbols as written, blanks dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]
