"""Turning what people type (``btc``, ``BTC/USDT``, ``eth-usd``) into exchange symbols."""

from __future__ import annotations

import re
from typing import Final

QUOTES: Final = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR")
"""Quote currencies recognised at the end of a symbol written without a separator."""
DEFAULT_QUOTE: Final = "USDT"
MAX_LEN: Final = 20

_SEPARATORS = re.compile(r"[\s/\-_:]+")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


def normalise_symbol(text: str, *, default_quote: str = DEFAULT_QUOTE) -> str:
    """``BTC`` -> ``BTCUSDT``; ``btc/usdt`` -> ``BTCUSDT``; ``ETH-BTC`` -> ``ETHBTC``.

    A bare asset gets the default quote; a pair written with a separator is kept as written;
    one written without a separator is kept when it ends with a known stable or fiat quote.
    """
    raw = text.strip()
    joined = _SEPARATORS.sub("", raw).upper()
    if not joined or not joined.isalnum() or not joined.isascii():
        msg = f"{text!r} is not a symbol (letters and digits, like BTC or BTCUSDT)"
        raise ValueError(msg)
    paired = _SEPARATORS.search(raw) is not None
    quoted = any(joined.endswith(q) and len(joined) > len(q) for q in QUOTES)
    symbol = joined if paired or quoted else joined + default_quote
    if not _SYMBOL.match(symbol):
        msg = f"{text!r} is not a symbol (2 to {MAX_LEN} letters and digits, like BTCUSDT)"
        raise ValueError(msg)
    return symbol
