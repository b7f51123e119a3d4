"""Market price feeds: exchange WebSocket adapters and a file replay, published as
``ixo.market.tick.v1`` events keyed by symbol on ``ixo.market.ticks``.

The CLI runs :func:`run_market_feed` with a source spec: ``binance``, ``coinbase`` or
``file:PATH`` (options after ``?``: ``url``, ``stream``, ``speed``, ``loop``); see
:func:`open_source` for the grammar.
"""

from pathlib import Path as _Path

from producers.market._backoff import Backoff
from producers.market._binance import (
    BINANCE_STREAMS,
    DEFAULT_BINANCE_URL,
    Binance,
    parse_binance,
)
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
from producers.market._source import DEFAULT_SYMBOLS, SOURCES, open_source, source_name
from producers.market._symbols import canonical_symbol, parse_symbols
from producers.market._types import SequencedTick, TickSource
from producers.market._ws import ConnectionOptions, Venue, WebSocketSource

SAMPLE_TICKS = _Path(__file__).parent / "data" / "sample_ticks.csv"
"""The shipped sample: synthetic ticks (a seeded random walk, see ``data/README.md``)."""

__all__ = [
    "BINANCE_STREAMS",
    "DEFAULT_BINANCE_URL",
    "DEFAULT_COINBASE_URL",
    "DEFAULT_SYMBOLS",
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
    "ReplayFileError",
    "SequenceGuard",
    "SequencedTick",
    "SourceError",
    "TickSource",
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
