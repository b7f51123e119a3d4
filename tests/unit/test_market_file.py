"""The file replay source: formats, validation errors with line numbers, speed, loop and the
times it dates ticks with (the file's, or the present)."""

from __future__ import annotations

import asyncio
import csv
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from producers.market import (
    SAMPLE_TICKS,
    FileReplay,
    ReplayFileError,
    SequencedTick,
    SourceError,
    TickTimes,
    load_ticks,
)
from producers.market.data import generate

T0 = datetime(2025, 1, 6, tzinfo=UTC)
NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


class ManualClock:
    """A :class:`~producers.market.ReplayClock` that only moves when the replay sleeps; it keeps
    every sleep asked for, so pacing is checked without measuring real time."""

    def __init__(self, wall: datetime = NOW) -> None:
        self.start = wall
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds


def write_csv(path: Path, rows: list[str], header: str = "ts,symbol,price,volume,venue") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


async def take(replay: FileReplay, n: int) -> list[SequencedTick]:
    out: list[SequencedTick] = []
    gen = replay.ticks()
    async for item in gen:
        out.append(item)
        if len(out) == n:
            break
    await gen.aclose()
    return out


def test_the_sample_loads_sorted_with_its_four_symbols() -> None:
    ticks = load_ticks(SAMPLE_TICKS)
    assert len(ticks) == 2000
    assert {t.symbol for t in ticks} == {"BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"}
    assert all(a.ts < b.ts for a, b in itertools.pairwise(ticks))
    assert {t.venue for t in ticks} == {"synthetic"}


def test_the_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    out = tmp_path / "regenerated.csv"
    assert generate.main(["--out", str(out)]) == 0
    assert out.read_bytes() == SAMPLE_TICKS.read_bytes()


def test_csv_and_jsonl_read_the_same_ticks(tmp_path: Path) -> None:
    csv_path = write_csv(
        tmp_path / "t.csv",
        ["2025-01-06T00:00:01Z,BTCUSDT,64000.5,0.1,binance", "1736121600000,ETHUSDT,3400,,"],
        header="ts,symbol,price,volume,venue",
    )
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text(
        '{"ts": "2025-01-06T00:00:01+00:00", "symbol": "BTCUSDT", "price": 64000.5,'
        ' "volume": "0.1", "venue": "binance"}\n'
        "\n"
        '{"ts": 1736121600000, "symbol": "ETHUSDT", "price": "3400"}\n',
        encoding="utf-8",
    )
    for path in (csv_path, jsonl):
        eth, btc = load_ticks(path)  # sorted by ts
        assert (eth.symbol, eth.price, eth.volume, eth.venue, eth.ts) == (
            "ETHUSDT",
            Decimal(3400),
            None,
            "replay",
            T0,
        )
        assert (btc.price, btc.volume, btc.venue) == (Decimal("64000.5"), Decimal("0.1"), "binance")


def test_symbols_filter_the_file(tmp_path: Path) -> None:
    assert {t.symbol for t in load_ticks(SAMPLE_TICKS, ["ethusdt"])} == {"ETHUSDT"}
    with pytest.raises(ReplayFileError, match="no ticks for XRPUSDT"):
        load_ticks(SAMPLE_TICKS, ["XRPUSDT"])


@pytest.mark.parametrize(
    ("rows", "header", "match"),
    [
        (["2025-01-06T00:00:01Z,BTCUSDT,-5,,"], None, r"t\.csv:2: price: Input should be greater"),
        (
            ["2025-01-06T00:00:01Z,BTCUSDT,1,,", "2025-01-06T00:00:02Z,btc usdt,1,,"],
            None,
            r"t\.csv:3: symbol: String should match",
        ),
        (["2025-01-06T00:00:01,BTCUSDT,1,,"], None, r"t\.csv:2: ts: .* has no time zone"),
        (["yesterday,BTCUSDT,1,,"], None, r"t\.csv:2: ts: not an ISO 8601 time"),
        (["2025-01-06T00:00:01Z,BTCUSDT,abc,,"], None, r"t\.csv:2: price"),
        (["2025-01-06T00:00:01Z,64000"], "ts,price", r"t\.csv:1: CSV header .* missing symbol"),
        ([], None, r"t\.csv: no ticks at all"),
    ],
)
def test_bad_csv_lines_name_the_file_line_and_field(
    tmp_path: Path, rows: list[str], header: str | None, match: str
) -> None:
    path = write_csv(tmp_path / "t.csv", rows, header or "ts,symbol,price,volume,venue")
    with pytest.raises(ReplayFileError, match=match):
        load_ticks(path)


def test_bad_jsonl_lines_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"ts": 1, "symbol": "BTCUSDT", "price": "1"}\n{oops\n', encoding="utf-8")
    with pytest.raises(ReplayFileError, match=r"t\.jsonl:2: not JSON"):
        load_ticks(path)
    path.write_text("[1]\n", encoding="utf-8")
    with pytest.raises(ReplayFileError, match=r"t\.jsonl:1: expected a JSON object"):
        load_ticks(path)


def test_missing_or_unknown_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ReplayFileError, match=r"nope\.csv: cannot read replay file: No such file"):
        load_ticks(tmp_path / "nope.csv")
    with pytest.raises(ReplayFileError, match=r"unknown replay file type '\.parquet'"):
        load_ticks(tmp_path / "ticks.parquet")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ReplayFileError, match="not UTF-8"):
        load_ticks(binary)


async def test_replay_keeps_file_order_and_the_gaps_divided_by_speed(tmp_path: Path) -> None:
    rows = [f"{(T0 + timedelta(seconds=i)).isoformat()},BTCUSDT,{100 + i},," for i in range(5)]
    path = write_csv(tmp_path / "t.csv", rows)
    clock = ManualClock()
    items = await take(FileReplay(path, speed=20, clock=clock), 5)  # 4 s of ticks in 0.2 s
    assert [i.tick.price for i in items] == [Decimal(100 + i) for i in range(5)]
    assert [i.seq for i in items] == [0, 1, 2, 3, 4]
    assert clock.sleeps == pytest.approx([0.05] * 4)
    assert [i.tick.ts for i in items] == [T0 + timedelta(seconds=i) for i in range(5)]


async def test_speed_zero_never_waits() -> None:
    clock = ManualClock()
    items = await take(FileReplay(SAMPLE_TICKS, speed=0, clock=clock), 2000)  # 8 minutes of ticks
    assert len(items) == 2000
    assert clock.sleeps == []


async def test_loop_repeats_with_timestamps_shifted_forward(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        [
            "2025-01-06T00:00:00Z,BTCUSDT,1,,",
            "2025-01-06T00:00:01Z,ETHUSDT,2,,",
            "2025-01-06T00:00:02Z,BTCUSDT,3,,",
        ],
    )
    items = await take(FileReplay(path, speed=0, loop=True), 9)
    assert [i.tick.price for i in items] == [Decimal(p) for p in "123123123"]
    ts = [i.tick.ts for i in items]
    assert ts[3] - ts[0] == timedelta(seconds=3)  # span 2 s plus one average gap of 1 s
    assert all(a < b for a, b in itertools.pairwise(ts))
    seqs = [i.seq for i in items]
    assert seqs == sorted(set(seqs))


def test_without_loop_the_replay_ends(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["2025-01-06T00:00:00Z,BTCUSDT,1,,"])

    async def all_of() -> list[SequencedTick]:
        return [i async for i in FileReplay(path, speed=0).ticks()]

    assert len(asyncio.run(all_of())) == 1


def test_the_sample_header_matches_the_documented_columns() -> None:
    with SAMPLE_TICKS.open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == ["ts", "symbol", "price", "volume", "venue"]


async def test_times_now_dates_the_first_tick_at_the_start_and_keeps_the_gaps(
    tmp_path: Path,
) -> None:
    rows = [f"{(T0 + timedelta(seconds=2 * i)).isoformat()},BTCUSDT,{100 + i},," for i in range(3)]
    path = write_csv(tmp_path / "t.csv", rows)
    clock = ManualClock()
    items = await take(FileReplay(path, speed=1, times=TickTimes.NOW, clock=clock), 3)
    assert [i.tick.ts for i in items] == [
        NOW,
        NOW + timedelta(seconds=2),
        NOW + timedelta(seconds=4),
    ]
    # Each tick is dated when it is due: never ahead of the clock it is published by.
    assert clock.sleeps == [2.0, 2.0]
    assert [i.tick.price for i in items] == [Decimal(100), Decimal(101), Decimal(102)]


async def test_times_now_at_a_higher_speed_divides_the_gaps_and_loops_forward(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        ["2025-01-06T00:00:00Z,BTCUSDT,1,,", "2025-01-06T00:00:10Z,BTCUSDT,2,,"],
    )
    clock = ManualClock()
    replay = FileReplay(path, speed=10, loop=True, times=TickTimes.NOW, clock=clock)
    items = await take(replay, 4)
    # Pass span 10 s plus one gap of 10 s, all divided by the speed.
    offsets = [(i.tick.ts - NOW).total_seconds() for i in items]
    assert offsets == [0.0, 1.0, 2.0, 3.0]
    assert clock.sleeps == [1.0, 1.0, 1.0]


async def test_times_now_at_speed_zero_dates_the_last_tick_now_for_backtests() -> None:
    original = load_ticks(SAMPLE_TICKS)
    clock = ManualClock()
    items = await take(FileReplay(SAMPLE_TICKS, speed=0, times=TickTimes.NOW, clock=clock), 2000)
    dated = [i.tick.ts for i in items]
    assert dated[-1] == NOW
    assert max(dated) == NOW  # nothing in the future
    assert [b - a for a, b in itertools.pairwise(dated)] == [
        b.ts - a.ts for a, b in itertools.pairwise(original)
    ]
    assert [(i.tick.symbol, i.tick.price) for i in items] == [(t.symbol, t.price) for t in original]


def test_times_now_at_speed_zero_refuses_to_loop_into_the_future() -> None:
    with pytest.raises(SourceError, match="dated in the future"):
        FileReplay(SAMPLE_TICKS, speed=0, loop=True, times=TickTimes.NOW)
