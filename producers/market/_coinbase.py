"""Coinbase Exchange public WebSocket feed: the ``ticker`` channel (plus ``heartbeat``).

After ``{"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["ticker", "heartbeat"]}``
the feed answers ``{"type": "subscriptions", ...}``, then sends one ticker per trade:
``{"type": "ticker", "sequence": 37475248783, "product_id": "BTC-USD", "price": "64123.5",
"open_24h": ..., "volume_24h": ..., "best_bid": ..., "best_ask": ..., "side": "buy",
"time": "2022-10-19T23:28:22.061769Z", "trade_id": 370843401, "last_size": "0.01"}``
and a heartbeat per product every second, which keeps the receive timeout meaningful on quiet
products. On subscribing it first re-sends the latest ticker, which the runner drops when it was
already published (ordering is by ``trade_id``, increasing per product).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from producers.market._errors import SourceError, VenueError
from producers.market._normalise import field, json_object, make_tick
from producers.market._symbols import canonical_symbol
from producers.market._types import SequencedTick

COINBASE = "coinbase"
DEFAULT_COINBASE_URL = "wss://ws-feed.exchange.coinbase.com"

# Quote currencies, longest first, to split a canonical symbol back into a product id.
QUOTES = ("PYUSD", "USDT", "USDC", "USD", "EUR", "GBP", "BTC", "ETH", "DAI", "SOL")
_IGNORED = frozenset({"subscriptions", "heartbeat", "status"})


def product_id(symbol: str) -> str:
    """A symbol in any accepted form to Coinbase's product id: ``BTCUSD`` or ``btc-usd`` to
    ``BTC-USD``. A symbol without a dash must end in a known quote currency."""
    text = symbol.strip().upper()
    if "-" in text:
        base, _, quote = text.partition("-")
        if base and quote and canonical_symbol(base + quote):
            return f"{base}-{quote}"
    else:
        canonical = canonical_symbol(text)
        for quote in QUOTES:
            base = canonical[: -len(quote)]
            if canonical.endswith(quote) and base:
                return f"{base}-{quote}"
    msg = (
        f"cannot tell the Coinbase product of {symbol!r}: write it as BASE-QUOTE "
        f"(e.g. BTC-USD) or end it in one of {', '.join(QUOTES)}"
    )
    raise SourceError(msg)


def symbol_of(product: str) -> str:
    """Coinbase's product id to our symbol: ``BTC-USD`` to ``BTCUSD``."""
    return product.replace("-", "")


class Coinbase:
    """The Coinbase Exchange venue (ticker channel; one tick per trade, with its size)."""

    name = COINBASE

    def __init__(self, base_url: str = DEFAULT_COINBASE_URL, *, heartbeat: bool = True) -> None:
        self.base_url = base_url
        self.heartbeat = heartbeat

    def url(self, symbols: Sequence[str]) -> str:
        for symbol in symbols:
            product_id(symbol)  # refuse bad symbols before connecting
        return self.base_url

    def subscriptions(self, symbols: Sequence[str]) -> list[str]:
        channels = ["ticker", "heartbeat"] if self.heartbeat else ["ticker"]
        request = {
            "type": "subscribe",
            "product_ids": [product_id(s) for s in symbols],
            "channels": channels,
        }
        return [orjson.dumps(request).decode()]

    def parse(self, raw: str | bytes) -> list[SequencedTick]:
        return parse_coinbase(raw)


def parse_coinbase(raw: str | bytes) -> list[SequencedTick]:
    """One feed message to its tick ([] for subscriptions acks and heartbeats)."""
    msg = json_object(raw)
    kind = field(msg, "type", str, "message")
    if kind in _IGNORED:
        return []
    if kind == "error":
        text = f"Coinbase error: {msg.get('message')!s}: {msg.get('reason')!s}"
        raise VenueError(text)
    if kind != "ticker":
        return []  # other channels' messages are not ticks
    return [_ticker(msg)]


def _ticker(msg: dict[str, Any]) -> SequencedTick:
    product: str = field(msg, "product_id", str, "ticker")
    last_size = msg.get("last_size")
    tick = make_tick(
        symbol=symbol_of(product),
        price=field(msg, "price", str, "ticker"),
        volume=last_size if isinstance(last_size, str) else None,
        venue=COINBASE,
        ts=field(msg, "time", str, "ticker"),
    )
    return SequencedTick(tick, field(msg, "trade_id", int, "ticker"))
