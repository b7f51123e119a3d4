"""The file replay source end to end on real Kafka: order, loop, graceful stop, and the bundled
sample dated to the present (so a backtest over the last hours finds it)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from consumers.rule_engine.app import backtest_history
from infra.settings import Settings
from producers.market import SAMPLE_TICKS, load_ticks, run_market_feed
from schemas import MARKET_TICKS, AlertRuleCreatedV1, MarketTickV1, codec_for
from tests._kafka import eventually, read_topic


async def topic_ticks(
    settings: Settings, source: str = "/producers/market/file"
) -> list[MarketTickV1]:
    codec = codec_for(MARKET_TICKS)
    out = []
    for record in await read_topic(settings, MARKET_TICKS):
        event = codec.decode(record.value)
        assert record.key is not None
        assert record.key.decode() == event.data.symbol
        assert event.source == source
        out.append(event.data)
    return out


def by_symbol(ticks: list[MarketTickV1]) -> dict[str, list[tuple[datetime, Decimal]]]:
    out: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for tick in ticks:
        out[tick.symbol].append((tick.ts, tick.price))
    return dict(out)


async def test_the_sample_replays_in_order_onto_the_topic(settings: Settings, topics: None) -> None:
    stats = await asyncio.wait_for(
        run_market_feed(settings, f"file:{SAMPLE_TICKS}", [], speed=0), timeout=15.0
    )

    assert (stats.published, stats.duplicates) == (2000, 0)
    on_topic = await topic_ticks(settings)
    assert len(on_topic) == 2000
    assert by_symbol(on_topic) == by_symbol(load_ticks(SAMPLE_TICKS))


async def test_loop_repeats_the_file_with_increasing_times_per_symbol(
    settings: Settings, topics: None, tmp_path: Path
) -> None:
    path = tmp_path / "three.jsonl"
    path.write_text(
        '{"ts": "2025-01-06T00:00:00Z", "symbol": "BTCUSDT", "price": "1"}\n'
        '{"ts": "2025-01-06T00:00:01Z", "symbol": "ETHUSDT", "price": "2"}\n'
        '{"ts": "2025-01-06T00:00:02Z", "symbol": "BTCUSDT", "price": "3"}\n',
        encoding="utf-8",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_market_feed(settings, f"file:{path}?speed=20&loop=1", [], stop=stop)
    )

    async def three_passes() -> list[MarketTickV1]:
        ticks = await topic_ticks(settings)
        return ticks if len(ticks) >= 9 else []

    await eventually(three_passes, timeout=15.0, interval=0.2)
    stop.set()
    stats = await asyncio.wait_for(task, timeout=10.0)

    ticks = await topic_ticks(settings)
    assert len(ticks) == stats.published >= 9
    series = by_symbol(ticks)
    for points in series.values():
        times = [ts for ts, _ in points]
        assert times == sorted(set(times))  # strictly increasing across passes
    assert [p for _, p in series["BTCUSDT"][:6]] == [Decimal(p) for p in "131313"]
    assert [p for _, p in series["ETHUSDT"][:3]] == [Decimal(2)] * 3


async def test_stopping_flushes_every_tick_in_flight(settings: Settings, topics: None) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_market_feed(settings, f"file:{SAMPLE_TICKS}", [], stop=stop, speed=0, loop=True)
    )
    await asyncio.sleep(0.5)
    stop.set()
    stats = await asyncio.wait_for(task, timeout=10.0)

    assert stats.published > 0
    ticks = await topic_ticks(settings)
    assert len(ticks) == stats.published  # acknowledged = on the topic; nothing lost or extra


async def test_the_sample_is_dated_now_so_a_backtest_over_the_last_two_hours_finds_it(
    settings: Settings, topics: None
) -> None:
    before = datetime.now(UTC)
    stats = await asyncio.wait_for(
        run_market_feed(settings, "sample?speed=0&loop=0", []), timeout=15.0
    )
    after = datetime.now(UTC)
    ticks = await topic_ticks(settings, source="/producers/market/sample")
    assert len(ticks) == stats.published == 2000
    original = load_ticks(SAMPLE_TICKS)
    newest = max(t.ts for t in ticks)
    assert before <= newest <= after  # the last tick is dated when the replay started
    assert newest - min(t.ts for t in ticks) == original[-1].ts - original[0].ts
    assert {t.venue for t in ticks} == {"synthetic"}

    rule = AlertRuleCreatedV1.model_validate(
        {
            "rule_id": "draft",
            "user_id": "backtest",
            "symbol": "BTCUSDT",
            "condition": {"kind": "above", "threshold": "1"},
        }
    )
    matches = await backtest_history(settings, rule, since=after - timedelta(hours=2))
    assert len(matches) == 1  # fires once (repeat is off), on the first BTCUSDT tick
    first_btc = next(t for t in original if t.symbol == "BTCUSDT")
    assert matches[0].alert.price == first_btc.price
    assert before - timedelta(hours=2) < matches[0].alert.triggered_at <= after
