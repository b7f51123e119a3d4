"""Market price feeds: exchange WebSocket adapters and a file replay, published as
``ixo.market.tick.v1`` events keyed by symbol on ``ixo.market.ticks``.

The CLI runs :func:`run_market_feed` with a source spec: ``binance``, ``coinbase``, ``sample``
(the bundled synthetic ticks, dated to the present as they play) or ``file:PATH`` (options after
``?``: ``url``, ``stream``, ``speed``, ``loop``, ``times``); see :func:`open_source` for the
grammar.
"""

from producers.market._backoff import Backoff
from producers.market._binance import (
    BINANCE_STREAMS,
    DEFAULT_BINANCE_URL,
    Binance,
    parse_binance,
)
from producers.market._clock import SystemClock
from producers.market._coinbase import (
    DEFAULT_COINBASE_URL,
    Coinbase,
    parse_coinbase,
    product_id,
)
from producers.market._errors import MalformedMessage, MarketFeedError, SourceError, VenueError
from producers.market._feed import FeedStats, publish_ticks, run_market_feed, source_uri
from producers.market._file import FileReplay, ReplayFileError, load_ticks
from producers.market._ordering import SequenceGuard
from producers.market._source import (
    DEFAULT_SYMBOLS,
    SAMPLE,
    SAMPLE_TICKS,
    SOURCES,
    open_source,
    source_name,
)
from producers.market._symbols import canonical_symbol, parse_symbols
from producers.market._types import ReplayClock, SequencedTick, TickSource, TickTimes
from producers.market._ws import ConnectionOptions, Venue, WebSocketSource

__all__ = [
    "BINANCE_STREAMS",
    "DEFAULT_BINANCE_URL",
    "DEFAULT_COINBASE_URL",
    "DEFAULT_SYMBOLS",
    "SAMPLE",
    "SAMPLE_TICKS",
    "SOURCES",
    "Backoff",
    "Binance",
    "Coinbase",
    "ConnectionOptions",
    "FeedStats",
    "FileReplay",
    "MalformedMessage",
    "MarketFeedError",
    "ReplayClock",
    "ReplayFileError",
    "SequenceGuard",
    "SequencedTick",
    "SourceError",
    "SystemClock",
    "TickSource",
    "TickTimes",
    "Venue",
    "VenueError",
    "WebSocketSource",
    "canonical_symbol",
    "load_ticks",
    "open_source",
    "parse_binance",
    "parse_coinbase",
    "parse_symbols",
    "product_id",
    "publish_ticks",
    "run_market_feed",
    "source_name",
    "source_uri",
]
