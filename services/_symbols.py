"""Symbols as every client takes them: normalised once (``btc`` -> ``BTCUSDT``) and checked
against the prices the feeds publish."""

from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator

from readmodels import ReadModels
from schemas import normalise_symbol

MAX_KNOWN_SHOWN = 10


def _normalised(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return normalise_symbol(value)
    except ValueError:
        return value  # the Symbol pattern then refuses it with the field's own message


NormalisedSymbol = BeforeValidator(_normalised)
"""Annotate a ``Symbol`` field with this to accept what people type (``BTC``, ``eth/usdt``)."""


async def feed_warning(reads: ReadModels, symbol: str) -> str | None:
    """A warning when no feed has published a price of ``symbol`` (a rule on it never fires
    until one does), naming the symbols that have prices."""
    if await reads.price(symbol) is not None:
        return None
    known = [p.symbol for p in await reads.prices()]
    shown = ", ".join(known[:MAX_KNOWN_SHOWN]) + (", ..." if len(known) > MAX_KNOWN_SHOWN else "")
    return f"no price for {symbol} yet: no feed publishes it" + (
        f" (prices known: {shown})" if known else ""
    )
