"""Source specs (what ``ixo run market-feed --source`` takes) and the package's public API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import producers.market as market
from infra.settings import Settings
from producers.market import (
    DEFAULT_SYMBOLS,
    SAMPLE_TICKS,
    SOURCES,
    FileReplay,
    SourceError,
    TickTimes,
    WebSocketSource,
    open_source,
    run_market_feed,
    source_name,
)


def test_public_api_is_exactly_all() -> None:
    public = {n for n in dir(market) if not n.startswith("_")} - {"data"}  # the sample package
    assert public == set(market.__all__)
    assert SOURCES == ("binance", "coinbase", "file", "sample")
    assert set(DEFAULT_SYMBOLS) == set(SOURCES)


def test_exchange_specs_with_default_and_given_urls() -> None:
    source = open_source("binance")
    assert isinstance(source, WebSocketSource)
    assert source.url == (
        "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade/solusdt@trade"
    )
    local = open_source("BINANCE?url=ws://127.0.0.1:9000&stream=miniTicker", ["BTCUSDT"])
    assert isinstance(local, WebSocketSource)
    assert local.url == "ws://127.0.0.1:9000/stream?streams=btcusdt@miniTicker"
    coinbase = open_source("coinbase", url="ws://127.0.0.1:9001")
    assert isinstance(coinbase, WebSocketSource)
    assert (coinbase.name, coinbase.url) == ("coinbase", "ws://127.0.0.1:9001")
    assert open_source("coinbase").url == "wss://ws-feed.exchange.coinbase.com"  # type: ignore[attr-defined]


def test_file_specs_take_speed_and_loop_from_text_or_keywords() -> None:
    replay = open_source(f"file:{SAMPLE_TICKS}?speed=10&loop=1")
    assert isinstance(replay, FileReplay)
    assert (replay.speed, replay.loop) == (10.0, True)
    replay = open_source(f"file:{SAMPLE_TICKS}?speed=10&loop", speed=0, loop=False)
    assert isinstance(replay, FileReplay)
    assert (replay.speed, replay.loop) == (0.0, False)
    plain = open_source(f"file:{SAMPLE_TICKS}", ["BTCUSDT"])
    assert isinstance(plain, FileReplay)
    assert (plain.speed, plain.loop, plain.times) == (1.0, False, TickTimes.ORIGINAL)
    assert {t.symbol for t in plain.rows} == {"BTCUSDT"}
    now = open_source(f"file:{SAMPLE_TICKS}?times=now")
    assert isinstance(now, FileReplay)
    assert now.times is TickTimes.NOW


def test_the_sample_plays_in_real_time_looped_and_dated_now_unless_told_otherwise() -> None:
    sample = open_source("sample")
    assert isinstance(sample, FileReplay)
    assert (sample.path, sample.name) == (SAMPLE_TICKS, "sample")
    assert (sample.speed, sample.loop, sample.times) == (1.0, True, TickTimes.NOW)
    # One option changes one default; the others stay the sample's.
    kept = open_source("sample?times=original", ["BTCUSDT"])
    assert isinstance(kept, FileReplay)
    assert (kept.speed, kept.loop, kept.times) == (1.0, True, TickTimes.ORIGINAL)
    assert {t.symbol for t in kept.rows} == {"BTCUSDT"}
    history = open_source("sample?speed=0&loop=0")
    assert isinstance(history, FileReplay)
    assert (history.speed, history.loop, history.times) == (0.0, False, TickTimes.NOW)
    flags = open_source("sample", speed=10, loop=False, times=TickTimes.ORIGINAL)
    assert isinstance(flags, FileReplay)
    assert (flags.speed, flags.loop, flags.times) == (10.0, False, TickTimes.ORIGINAL)


@pytest.mark.parametrize(
    ("spec", "kwargs", "match"),
    [
        ("kraken", {}, "unknown market source 'kraken': use binance, coinbase, sample or file"),
        ("file:", {}, "file source needs a path"),
        ("binance?speed=2", {}, "unknown option 'speed' for source binance"),
        ("binance?url=ftp://x", {}, "not a WebSocket URL"),
        ("binance?stream=depth", {}, "unknown Binance stream"),
        ("binance", {"loop": True}, "speed, loop and times apply to file replays"),
        ("coinbase", {"times": TickTimes.NOW}, "speed, loop and times apply to file replays"),
        ("sample?times=later", {}, "times must be original or now"),
        ("sample?speed=0", {}, "times=now with speed 0 cannot loop"),
        ("sample?url=ws://x", {}, "unknown option 'url' for source sample"),
        ("binance?url=ws://a&url=ws://b", {}, "given twice"),
        ("binance?oops", {}, "unknown option 'oops'"),
        (f"file:{SAMPLE_TICKS}?speed=fast", {}, "speed must be a number >= 0"),
        (f"file:{SAMPLE_TICKS}?speed=-1", {}, "speed must be a number >= 0"),
        (f"file:{SAMPLE_TICKS}?loop=maybe", {}, "loop must be"),
        (f"file:{SAMPLE_TICKS}", {"url": "ws://x"}, "url applies to exchange sources"),
        ("file:/nonexistent/ticks.csv", {}, "cannot read replay file"),
    ],
)
def test_bad_specs_are_clear_errors(spec: str, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SourceError, match=match):
        open_source(spec, **kwargs)  # type: ignore[arg-type]


def test_bad_symbols_are_refused_before_connecting() -> None:
    with pytest.raises(SourceError, match="not a market symbol"):
        open_source("binance", ["BTC USDT"])
    with pytest.raises(SourceError, match="cannot tell the Coinbase product"):
        open_source("coinbase", ["BTCXYZ"])


def test_source_names() -> None:
    specs = ("binance", "coinbase?url=ws://x", "file:a?b", "Sample?loop=0")
    assert [source_name(s) for s in specs] == ["binance", "coinbase", "file", "sample"]


def test_a_bad_file_fails_before_kafka_is_contacted(tmp_path: Path) -> None:
    unreachable = Settings(kafka_bootstrap="127.0.0.1:1")
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,symbol,price\n2025-01-06T00:00:00Z,BTCUSDT,zero\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"bad\.csv:2: price"):
        asyncio.run(run_market_feed(unreachable, f"file:{bad}", []))
