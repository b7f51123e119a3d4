"""Exchange messages (in each venue's real format) normalised into MarketTickV1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from producers.market import (
    Binance,
    Coinbase,
    MalformedMessage,
    SequenceGuard,
    SourceError,
    VenueError,
    canonical_symbol,
    parse_binance,
    parse_coinbase,
    parse_symbols,
    product_id,
)


def binance_trade(**over: Any) -> str:
    data = {
        "e": "trade",
        "E": 1736121600123,
        "s": "BTCUSDT",
        "t": 4242424242,
        "p": "64123.50000000",
        "q": "0.01200000",
        "T": 1736121600120,
        "m": True,
        "M": True,
    }
    data.update(over)
    return json.dumps({"stream": "btcusdt@trade", "data": data})


def coinbase_ticker(**over: Any) -> str:
    msg = {
        "type": "ticker",
        "sequence": 37475248783,
        "product_id": "ETH-USD",
        "price": "3401.22",
        "open_24h": "3310.79",
        "volume_24h": "245532.79269678",
        "low_24h": "3280.52",
        "high_24h": "3413.8",
        "volume_30d": "9788783.60117027",
        "best_bid": "3401.04",
        "best_bid_size": "0.46688654",
        "best_ask": "3401.27",
        "best_ask_size": "1.56637040",
        "side": "buy",
        "time": "2025-01-06T00:00:00.061769Z",
        "trade_id": 370843401,
        "last_size": "11.4396987",
    }
    msg.update(over)
    return json.dumps(msg)


def test_binance_trade_becomes_a_tick_ordered_by_trade_id() -> None:
    [item] = parse_binance(binance_trade())
    assert item.seq == 4242424242
    tick = item.tick
    assert tick.symbol == "BTCUSDT"
    assert tick.price == Decimal("64123.5")
    assert tick.volume == Decimal("0.012")
    assert tick.venue == "binance"
    assert tick.ts == datetime(2025, 1, 6, 0, 0, 0, 120000, tzinfo=UTC)  # trade time T, exact ms
    assert json.loads(tick.model_dump_json())["price"] == "64123.5"


def test_binance_mini_ticker_uses_close_price_and_event_time() -> None:
    raw = json.dumps(
        {
            "stream": "ethusdt@miniTicker",
            "data": {
                "e": "24hrMiniTicker",
                "E": 1736121601000,
                "s": "ETHUSDT",
                "c": "3400.10",
                "o": "3300.00",
                "h": "3420.00",
                "l": "3290.00",
                "v": "10000.5",
                "q": "34000000.1",
            },
        }
    )
    [item] = parse_binance(raw)
    assert (item.tick.symbol, item.tick.price, item.tick.volume) == (
        "ETHUSDT",
        Decimal("3400.1"),
        None,
    )
    assert item.seq == 1736121601000


def test_binance_request_acknowledgement_is_not_a_tick() -> None:
    assert parse_binance('{"result": null, "id": 1}') == []


def test_binance_error_message_is_a_venue_error() -> None:
    with pytest.raises(VenueError, match="Invalid request"):
        parse_binance('{"error": {"code": 2, "msg": "Invalid request"}, "id": 1}')


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"stream": "btcusdt@trade"}', "message.data: missing"),
        (binance_trade(p="-1"), "price"),
        (binance_trade(p="0"), "price"),
        (binance_trade(p="abc"), "price"),
        (binance_trade(p=64123.5), r"data\.p: expected str"),
        (binance_trade(s="btc/usdt"), "symbol"),
        (binance_trade(t="12"), r"data\.t: expected int"),
        (binance_trade(T=True), r"data\.T: expected int"),
        (binance_trade(e="kline"), "unexpected event type 'kline'"),
    ],
)
def test_malformed_binance_messages_are_refused_with_the_field(raw: str, match: str) -> None:
    with pytest.raises(MalformedMessage, match=match):
        parse_binance(raw)


def test_binance_combined_stream_url() -> None:
    venue = Binance("ws://127.0.0.1:9443/", stream="trade")
    assert (
        venue.url(["BTCUSDT", "eth-usdt"])
        == "ws://127.0.0.1:9443/stream?streams=btcusdt@trade/ethusdt@trade"
    )
    assert venue.subscriptions(["BTCUSDT"]) == []
    mini = Binance("wss://example.invalid", stream="miniTicker")
    assert mini.url(["SOLUSDT"]).endswith("/stream?streams=solusdt@miniTicker")
    with pytest.raises(SourceError, match="unknown Binance stream"):
        Binance(stream="depth")


def test_coinbase_ticker_becomes_a_tick_with_our_symbol_form() -> None:
    [item] = parse_coinbase(coinbase_ticker())
    tick = item.tick
    assert tick.symbol == "ETHUSD"
    assert tick.price == Decimal("3401.22")
    assert tick.volume == Decimal("11.4396987")
    assert tick.venue == "coinbase"
    assert tick.ts == datetime(2025, 1, 6, 0, 0, 0, 61769, tzinfo=UTC)
    assert item.seq == 370843401


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "subscriptions", "channels": [{"name": "ticker", "product_ids": ["BTC-USD"]}]}',
        '{"type": "heartbeat", "sequence": 90, "last_trade_id": 20, "product_id": "BTC-USD",'
        ' "time": "2025-01-06T00:00:00.464459Z"}',
    ],
)
def test_coinbase_control_messages_are_not_ticks(raw: str) -> None:
    assert parse_coinbase(raw) == []


def test_coinbase_error_is_a_venue_error() -> None:
    raw = '{"type": "error", "message": "Failed to subscribe", "reason": "XYZ-USD is not valid"}'
    with pytest.raises(VenueError, match="XYZ-USD is not valid"):
        parse_coinbase(raw)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ('{"no": "type"}', "message.type: missing"),
        (coinbase_ticker(price="-3"), "price"),
        (coinbase_ticker(time="2025-01-06T00:00:00"), "ts"),
        (coinbase_ticker(trade_id=None), r"ticker\.trade_id: expected int"),
        (coinbase_ticker(product_id="BTC USD"), "symbol"),
    ],
)
def test_malformed_coinbase_messages_are_refused(raw: str, match: str) -> None:
    with pytest.raises(MalformedMessage, match=match):
        parse_coinbase(raw)


def test_coinbase_subscribe_message_names_products_and_channels() -> None:
    [text] = Coinbase("ws://127.0.0.1:1").subscriptions(["BTCUSD", "eth-usd", "SOLUSDC"])
    assert json.loads(text) == {
        "type": "subscribe",
        "product_ids": ["BTC-USD", "ETH-USD", "SOL-USDC"],
        "channels": ["ticker", "heartbeat"],
    }


@pytest.mark.parametrize(
    ("symbol", "product"),
    [
        ("BTCUSD", "BTC-USD"),
        ("btc-usd", "BTC-USD"),
        ("BTCUSDT", "BTC-USDT"),
        ("ETHBTC", "ETH-BTC"),
        ("DOGEEUR", "DOGE-EUR"),
    ],
)
def test_coinbase_product_ids(symbol: str, product: str) -> None:
    assert product_id(symbol) == product


@pytest.mark.parametrize("symbol", ["USD", "BTCXYZ", "-USD", "BTC-", "B*C-USD"])
def test_unknown_coinbase_products_are_refused(symbol: str) -> None:
    with pytest.raises(SourceError):
        product_id(symbol)


def test_canonical_symbols() -> None:
    assert canonical_symbol("btc-usdt") == "BTCUSDT"
    assert canonical_symbol(" ETH/USD ") == "ETHUSD"
    with pytest.raises(SourceError, match="not a market symbol"):
        canonical_symbol("BTC USDT!")
    assert parse_symbols("BTCUSDT, ethusdt,,") == ["BTCUSDT", "ethusdt"]


def test_sequence_guard_drops_duplicates_and_older_ticks_per_symbol() -> None:
    guard = SequenceGuard()
    assert [guard.admit("BTCUSDT", s) for s in (1, 2, 2, 1, 3)] == [True, True, False, False, True]
    assert guard.admit("ETHUSDT", 1)  # symbols are independent
    assert guard.last("BTCUSDT") == 3
