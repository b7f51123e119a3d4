"""Exchange feeds end to end: local WebSocket servers speaking Binance's and Coinbase's real
message formats stand in for the exchanges; ticks land on the real ``ixo.market.ticks``."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from infra.settings import Settings
from producers.market import (
    Backoff,
    Binance,
    Coinbase,
    ConnectionOptions,
    FeedStats,
    TickSource,
    WebSocketSource,
    run_market_feed,
)
from schemas import HEADER_TYPE, MARKET_TICKS, MarketTickV1, codec_for
from tests._kafka import eventually, headers_of, read_topic

FAST = ConnectionOptions(
    receive_timeout_s=5.0,
    ping_interval_s=0.5,
    ping_timeout_s=2.0,
    open_timeout_s=2.0,
    close_timeout_s=0.5,
    backoff=Backoff(initial_s=0.05, max_s=0.2),
)
T0_MS = 1736121600000  # 2025-01-06T00:00:00Z

End = Literal["hold", "close", "drop"]


@dataclass
class Script:
    """What the stand-in exchange does on one connection: send ``messages``, then ``end``:
    ``hold`` (stay open and silent), ``close`` (a close frame) or ``drop`` (abort the TCP)."""

    messages: list[str]
    end: End = "hold"


@dataclass
class FakeExchange:
    """A real WebSocket server on 127.0.0.1 playing one script per connection (the last script
    repeats). Records each connection's request path and the messages the client sent."""

    scripts: list[Script]
    expects_subscribe: bool = False
    paths: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    server: Server | None = None

    async def handler(self, ws: ServerConnection) -> None:
        index = len(self.paths)
        self.paths.append(ws.request.path if ws.request else "")
        if self.expects_subscribe:
            self.received.append(str(await ws.recv()))
        script = self.scripts[min(index, len(self.scripts) - 1)]
        for message in script.messages:
            await ws.send(message)
        if script.end == "close":
            await ws.close(1001, "going away")
        elif script.end == "drop":
            ws.transport.abort()
        else:
            await ws.wait_closed()

    async def start(self, port: int = 0) -> int:
        self.server = await serve(self.handler, "127.0.0.1", port)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    @property
    def connections(self) -> int:
        return len(self.paths)


def binance_trade(symbol: str, trade_id: int) -> str:
    """A Binance combined-stream trade; the price encodes the trade id (100 + id)."""
    data = {
        "e": "trade",
        "E": T0_MS + trade_id * 10 + 3,
        "s": symbol,
        "t": trade_id,
        "p": f"{100 + trade_id}.50000000",
        "q": "0.01000000",
        "T": T0_MS + trade_id * 10,
        "m": trade_id % 2 == 0,
        "M": True,
    }
    return json.dumps({"stream": f"{symbol.lower()}@trade", "data": data})


COINBASE_PRODUCTS = {"BTCUSD": "BTC-USD", "ETHUSD": "ETH-USD"}


def coinbase_ticker(symbol: str, trade_id: int) -> str:
    """A Coinbase Exchange ticker message; the price encodes the trade id (100 + id)."""
    return json.dumps(
        {
            "type": "ticker",
            "sequence": 90000 + trade_id,
            "product_id": COINBASE_PRODUCTS[symbol],
            "price": f"{100 + trade_id}.5",
            "open_24h": "95.1",
            "volume_24h": "1234.5",
            "low_24h": "90",
            "high_24h": "210",
            "volume_30d": "40000",
            "best_bid": f"{100 + trade_id}.4",
            "best_bid_size": "1.2",
            "best_ask": f"{100 + trade_id}.6",
            "best_ask_size": "0.8",
            "side": "sell",
            "time": f"2025-01-06T00:00:{trade_id:02d}.123456Z",
            "trade_id": trade_id,
            "last_size": "0.25",
        }
    )


def coinbase_subscriptions() -> str:
    return json.dumps(
        {"type": "subscriptions", "channels": [{"name": "ticker", "product_ids": ["BTC-USD"]}]}
    )


@dataclass(frozen=True)
class VenueCase:
    name: str
    symbols: tuple[str, str]
    trade: Callable[[str, int], str]
    preamble: tuple[str, ...]  # what the exchange sends first on every connection
    make: Callable[[str], Binance | Coinbase]


BINANCE_CASE = VenueCase("binance", ("BTCUSDT", "ETHUSDT"), binance_trade, (), Binance)
COINBASE_CASE = VenueCase(
    "coinbase",
    ("BTCUSD", "ETHUSD"),
    coinbase_ticker,
    (coinbase_subscriptions(),),
    Coinbase,
)


@pytest.fixture
async def exchanges() -> AsyncIterator[list[FakeExchange]]:
    """Stand-in exchanges created by a test; all stopped at the end."""
    made: list[FakeExchange] = []
    yield made
    for exchange in made:
        await exchange.stop()


async def published(settings: Settings, n: int) -> list[MarketTickV1]:
    """Wait for at least ``n`` ticks on the topic; return every tick, checking each record."""
    codec = codec_for(MARKET_TICKS)

    async def enough() -> list[MarketTickV1]:
        records = await read_topic(settings, MARKET_TICKS)
        if len(records) < n:
            return []
        ticks = []
        for record in records:
            event = codec.decode(record.value)
            assert record.key is not None
            assert record.key.decode() == event.data.symbol == event.subject
            assert headers_of(record)[HEADER_TYPE] == "ixo.market.tick.v1"
            ticks.append(event.data)
        return ticks

    return await eventually(enough, timeout=15.0, interval=0.2)


def trade_ids(ticks: list[MarketTickV1], symbol: str) -> list[int]:
    """The trade ids (price - 100.5) of a symbol's ticks, in topic order."""
    return [int(t.price - Decimal("100.5")) for t in ticks if t.symbol == symbol]


async def stop_feed(stop: asyncio.Event, task: asyncio.Task[FeedStats]) -> FeedStats:
    stop.set()
    return await asyncio.wait_for(task, timeout=10.0)


def start_feed(
    settings: Settings, source: str | TickSource, symbols: list[str]
) -> tuple[asyncio.Event, asyncio.Task[FeedStats]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(run_market_feed(settings, source, symbols, stop=stop))


async def test_binance_trades_land_on_the_ticks_topic_keyed_by_symbol(
    settings: Settings, topics: None, exchanges: list[FakeExchange]
) -> None:
    trades = [binance_trade("BTCUSDT", i) for i in (1, 2, 3)]
    trades += [binance_trade("ETHUSDT", i) for i in (7, 8)]
    exchange = FakeExchange([Script(trades)])
    exchanges.append(exchange)
    port = await exchange.start()
    stop, task = start_feed(settings, f"binance?url=ws://127.0.0.1:{port}", ["BTCUSDT", "ethusdt"])

    ticks = await published(settings, 5)
    stats = await stop_feed(stop, task)

    assert exchange.paths == ["/stream?streams=btcusdt@trade/ethusdt@trade"]
    assert trade_ids(ticks, "BTCUSDT") == [1, 2, 3]
    assert trade_ids(ticks, "ETHUSDT") == [7, 8]
    first = next(t for t in ticks if t.symbol == "BTCUSDT")
    assert (first.venue, first.volume, first.price) == (
        "binance",
        Decimal("0.01"),
        Decimal("101.5"),
    )
    assert first.ts.isoformat() == "2025-01-06T00:00:00.010000+00:00"
    assert (stats.published, stats.duplicates) == (5, 0)
    assert len(await read_topic(settings, MARKET_TICKS)) == 5  # nothing more after the stop


async def test_coinbase_tickers_land_on_the_ticks_topic_keyed_by_symbol(
    settings: Settings, topics: None, exchanges: list[FakeExchange]
) -> None:
    heartbeat = json.dumps(
        {
            "type": "heartbeat",
            "sequence": 1,
            "last_trade_id": 1,
            "product_id": "BTC-USD",
            "time": "2025-01-06T00:00:00.5Z",
        }
    )
    messages = [coinbase_subscriptions(), heartbeat, coinbase_ticker("BTCUSD", 1)]
    messages += [coinbase_ticker("ETHUSD", 2), coinbase_ticker("BTCUSD", 3)]
    exchange = FakeExchange([Script(messages)], expects_subscribe=True)
    exchanges.append(exchange)
    port = await exchange.start()
    stop, task = start_feed(settings, f"coinbase?url=ws://127.0.0.1:{port}", ["BTC-USD", "ETHUSD"])

    ticks = await published(settings, 3)
    stats = await stop_feed(stop, task)

    assert [json.loads(m) for m in exchange.received] == [
        {
            "type": "subscribe",
            "product_ids": ["BTC-USD", "ETH-USD"],
            "channels": ["ticker", "heartbeat"],
        }
    ]
    assert trade_ids(ticks, "BTCUSD") == [1, 3]
    assert trade_ids(ticks, "ETHUSD") == [2]
    eth = next(t for t in ticks if t.symbol == "ETHUSD")
    assert (eth.venue, eth.volume) == ("coinbase", Decimal("0.25"))
    assert eth.ts.isoformat() == "2025-01-06T00:00:02.123456+00:00"
    assert stats.published == 3


@pytest.mark.parametrize("case", [BINANCE_CASE, COINBASE_CASE], ids=lambda c: c.name)
async def test_a_dropped_connection_reconnects_without_duplicate_or_out_of_order_ticks(
    settings: Settings, topics: None, exchanges: list[FakeExchange], case: VenueCase
) -> None:
    btc, eth = case.symbols
    first = [case.trade(btc, i) for i in (1, 2, 3, 4, 5)] + [case.trade(eth, i) for i in (1, 2, 3)]
    # After the reconnect the exchange re-sends trades already seen (3, 4, 5 and ETH 2, 3),
    # delivers one stale trade (2) late, then new ones.
    second = [case.trade(btc, i) for i in (3, 4, 5, 6, 7)] + [case.trade(eth, i) for i in (2, 3)]
    second += [case.trade(btc, 2), case.trade(eth, 4), case.trade(btc, 8)]
    exchange = FakeExchange(
        [
            Script([*case.preamble, *first], end="drop"),
            Script([*case.preamble, *second], end="hold"),
        ],
        expects_subscribe=case.name == "coinbase",
    )
    exchanges.append(exchange)
    port = await exchange.start()
    source = WebSocketSource(case.make(f"ws://127.0.0.1:{port}"), [btc, eth], FAST)
    stop, task = start_feed(settings, source, [])

    ticks = await published(settings, 12)
    await asyncio.sleep(0.3)  # a duplicate would arrive now
    stats = await stop_feed(stop, task)

    assert exchange.connections == 2
    assert source.connections == 2
    ticks = await published(settings, 12)
    assert trade_ids(ticks, btc) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert trade_ids(ticks, eth) == [1, 2, 3, 4]
    assert (stats.published, stats.duplicates) == (12, 6)


async def test_a_silent_connection_is_closed_and_reopened(
    settings: Settings, topics: None, exchanges: list[FakeExchange]
) -> None:
    # Pings are answered (the server's library does it) but no data flows: only the receive
    # timeout notices, and the feed reconnects.
    exchange = FakeExchange(
        [
            Script([binance_trade("BTCUSDT", 1)], end="hold"),
            Script([binance_trade("BTCUSDT", 1), binance_trade("BTCUSDT", 2)], end="hold"),
        ]
    )
    exchanges.append(exchange)
    port = await exchange.start()
    options = ConnectionOptions(
        receive_timeout_s=0.4, ping_interval_s=0.1, backoff=Backoff(initial_s=0.05, max_s=0.1)
    )
    source = WebSocketSource(Binance(f"ws://127.0.0.1:{port}"), ["BTCUSDT"], options)
    stop, task = start_feed(settings, source, [])

    ticks = await published(settings, 2)
    await stop_feed(stop, task)

    assert exchange.connections >= 2
    assert trade_ids(ticks, "BTCUSDT") == [1, 2]


async def test_an_exchange_that_is_down_at_start_is_retried_with_backoff(
    settings: Settings, topics: None, exchanges: list[FakeExchange]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    source = WebSocketSource(Binance(f"ws://127.0.0.1:{port}"), ["BTCUSDT"], FAST)
    stop, task = start_feed(settings, source, [])
    await asyncio.sleep(0.5)  # several refused attempts
    assert not task.done()
    exchange = FakeExchange([Script([binance_trade("BTCUSDT", 1)])])
    exchanges.append(exchange)
    await exchange.start(port)

    ticks = await published(settings, 1)
    await stop_feed(stop, task)
    assert trade_ids(ticks, "BTCUSDT") == [1]


async def test_malformed_messages_are_logged_and_skipped_without_killing_the_feed(
    settings: Settings,
    topics: None,
    exchanges: list[FakeExchange],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="producers.market")
    bad_price = json.loads(binance_trade("BTCUSDT", 2))
    bad_price["data"]["p"] = "-5"
    float_price = json.loads(binance_trade("BTCUSDT", 3))
    float_price["data"]["p"] = 103.5
    kline = json.loads(binance_trade("BTCUSDT", 4))
    kline["data"]["e"] = "kline"
    messages = [
        binance_trade("BTCUSDT", 1),
        "this is not json",
        json.dumps(bad_price),
        json.dumps(float_price),
        json.dumps(kline),
        '{"stream": "btcusdt@trade"}',
        '{"error": {"code": 3, "msg": "Invalid JSON"}, "id": null}',
        binance_trade("BTCUSDT", 5),
    ]
    exchange = FakeExchange([Script(messages)])
    exchanges.append(exchange)
    port = await exchange.start()
    source = WebSocketSource(Binance(f"ws://127.0.0.1:{port}"), ["BTCUSDT"], FAST)
    stop, task = start_feed(settings, source, [])

    ticks = await published(settings, 2)
    stats = await stop_feed(stop, task)

    assert trade_ids(ticks, "BTCUSDT") == [1, 5]
    assert stats.published == 2
    assert exchange.connections == 1  # the bad messages did not cost the connection
    skipped = [
        r for r in caplog.records if r.getMessage() == "skipped a malformed exchange message"
    ]
    assert len(skipped) == 5
    assert all(r.levelno == logging.WARNING and r.venue == "binance" for r in skipped)  # type: ignore[attr-defined]
    errors = {r.error for r in skipped}  # type: ignore[attr-defined]
    assert any(e.startswith("not JSON") for e in errors)
    assert any("price" in e for e in errors)
    assert any("unexpected event type 'kline'" in e for e in errors)
    reported = [r for r in caplog.records if r.getMessage() == "exchange reported an error"]
    assert len(reported) == 1
    assert "Invalid JSON" in reported[0].error  # type: ignore[attr-defined]
