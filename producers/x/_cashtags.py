"""Cashtags (``$BTC``) in a post's text, as the platform's market symbols."""

from __future__ import annotations

import re
from typing import Final

from schemas import normalise_symbol

CASHTAG: Final = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{1,9})(?![\w$])")
"""``$`` then a letter and 1-9 letters or digits, not inside a word (``$100`` is a price)."""


def extract_symbols(text: str) -> tuple[str, ...]:
    """The symbols of the cashtags in ``text``, in order of first mention, each once:
    ``"$btc up, $ETH too, $BTC"`` -> ``("BTCUSDT", "ETHUSDT")``."""
    seen: dict[str, None] = {}
    for match in CASHTAG.finditer(text):
        try:
            seen.setdefault(normalise_symbol(match.group(1)), None)
        except ValueError:
            continue
    return tuple(seen)
