"""Binance spot public market streams: the combined-stream URL and its message format.

``<base>/stream?streams=btcusdt@trade/ethusdt@trade`` delivers
``{"stream": "btcusdt@trade", "data": {"e": "trade", "E": 1672515782136, "s": "BTCUSDT",
"t": 12345, "p": "64123.5", "q": "0.01", "T": 1672515782136, "m": true, "M": true}}``;
``@miniTicker`` streams deliver ``{"e": "24hrMiniTicker", "E": ..., "s": ..., "c": close, ...}``.
Binance pings every 20 s and drops connections after 24 h; both are handled by the connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from producers.market._errors import MalformedMessage, SourceError, VenueError
from producers.market._normalise import field, from_millis, json_object, make_tick
from producers.market._symbols import canonical_symbol
from producers.market._types import SequencedTick

BINANCE = "binance"
DEFAULT_BINANCE_URL = "wss://stream.binance.com:9443"
MAX_STREAMS = 1024  # Binance's limit of streams on one connection

BinanceStream = Literal["trade", "miniTicker"]
BINANCE_STREAMS: tuple[BinanceStream, ...] = ("trade", "miniTicker")


class Binance:
    """The Binance venue: ``trade`` streams (one tick per trade, ordered by trade id) or
    ``miniTicker`` streams (one tick per second at most, ordered by event time; ``volume`` is
    left out there because Binance only gives a rolling 24 h volume)."""

    name = BINANCE

    def __init__(self, base_url: str = DEFAULT_BINANCE_URL, stream: str = "trade") -> None:
        if stream not in BINANCE_STREAMS:
            msg = f"unknown Binance stream {stream!r}; use one of {', '.join(BINANCE_STREAMS)}"
            raise SourceError(msg)
        self.base_url = base_url.rstrip("/")
        self.stream = stream

    def url(self, symbols: Sequence[str]) -> str:
        if len(symbols) > MAX_STREAMS:
            msg = f"Binance allows at most {MAX_STREAMS} streams per connection"
            raise SourceError(msg)
        streams = "/".join(f"{canonical_symbol(s).lower()}@{self.stream}" for s in symbols)
        return f"{self.base_url}/stream?streams={streams}"

    def subscriptions(self, symbols: Sequence[str]) -> list[str]:
        return []  # the combined-stream URL subscribes

    def parse(self, raw: str | bytes) -> list[SequencedTick]:
        return parse_binance(raw)


def parse_binance(raw: str | bytes) -> list[SequencedTick]:
    """One combined-stream message to its tick ([] for a request acknowledgement)."""
    msg = json_object(raw)
    if "error" in msg:
        text = f"Binance error: {msg['error']}"
        raise VenueError(text)
    if "result" in msg and "id" in msg:
        return []  # the answer to a SUBSCRIBE/LIST_SUBSCRIPTIONS request
    stream = field(msg, "stream", str, "message")
    data: dict[str, Any] = field(msg, "data", dict, "message")
    event = data.get("e")
    if event == "trade":
        return [_trade(data)]
    if event == "24hrMiniTicker":
        return [_mini_ticker(data)]
    text = f"data.e: unexpected event type {event!r} on stream {stream!r}"
    raise MalformedMessage(text)


def _trade(data: dict[str, Any]) -> SequencedTick:
    tick = make_tick(
        symbol=field(data, "s", str, "data"),
        price=field(data, "p", str, "data"),
        volume=field(data, "q", str, "data"),
        venue=BINANCE,
        ts=from_millis(field(data, "T", int, "data")),
    )
    return SequencedTick(tick, field(data, "t", int, "data"))


def _mini_ticker(data: dict[str, Any]) -> SequencedTick:
    event_ms: int = field(data, "E", int, "data")
    tick = make_tick(
        symbol=field(data, "s", str, "data"),
        price=field(data, "c", str, "data"),
        volume=None,
        venue=BINANCE,
        ts=from_millis(event_ms),
    )
    return SequencedTick(tick, event_ms)
