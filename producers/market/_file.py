"""Replay ticks from a CSV or JSONL file, at a chosen speed, optionally forever.

Each row (CSV with a header, or one JSON object per line) has ``ts``, ``symbol``, ``price`` and
optionally ``volume`` and ``venue`` (default ``replay``). ``ts`` is ISO 8601 with a time zone
(``2025-01-06T00:00:00.125Z``) or integer epoch milliseconds; prices are decimal strings (JSON
numbers are read as exact decimals). The file is read and validated up front, so a bad file
fails before anything is published, with the line that is wrong.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from producers.market._clock import SystemClock
from producers.market._errors import SourceError
from producers.market._normalise import from_millis
from producers.market._symbols import canonical_symbol
from producers.market._types import ReplayClock, SequencedTick, TickTimes
from schemas import MarketTickV1, explain

FILE = "file"
DEFAULT_VENUE = "replay"
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
REQUIRED_COLUMNS = ("ts", "symbol", "price")
_MIN_LOOP_GAP = timedelta(milliseconds=1)
_YIELD_EVERY = 500  # at speed 0, let other tasks run this often


class ReplayFileError(SourceError):
    """A replay file that cannot be read, or a line in it that is not a valid tick."""

    def __init__(self, path: Path, message: str, *, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


def _parse_ts(value: Any) -> datetime:
    if isinstance(value, int) and not isinstance(value, bool):
        return from_millis(value)
    if not isinstance(value, str):
        msg = f"ts: expected an ISO 8601 string or epoch milliseconds, got {value!r}"
        raise ValueError(msg)  # noqa: TRY004 - reported as a bad line, like the other ValueErrors
    text = value.strip()
    if text.isdigit():
        return from_millis(int(text))
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        msg = f"ts: not an ISO 8601 time: {value!r}"
        raise ValueError(msg) from None
    if ts.tzinfo is None:
        msg = f"ts: {value!r} has no time zone (add Z or an offset like +00:00)"
        raise ValueError(msg)
    return ts


def _row_tick(row: dict[str, Any]) -> MarketTickV1:
    volume = row.get("volume")
    return MarketTickV1.model_validate(
        {
            "ts": _parse_ts(row.get("ts")),
            "symbol": row.get("symbol"),
            "price": row.get("price"),
            "volume": None if volume in ("", None) else volume,
            "venue": row.get("venue") or DEFAULT_VENUE,
        }
    )


def _csv_rows(path: Path, lines: Iterator[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(lines)
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        found = ", ".join(reader.fieldnames or ()) or "nothing"
        msg = (
            f"CSV header must name {', '.join(REQUIRED_COLUMNS)}; "
            f"missing {', '.join(missing)} (found {found})"
        )
        raise ReplayFileError(path, msg, line=1)
    for row in reader:
        yield reader.line_num, row


def _jsonl_rows(path: Path, lines: Iterator[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise ReplayFileError(path, f"not JSON: {exc.msg}", line=number) from None
        if not isinstance(value, dict):
            msg = f"expected a JSON object, got {type(value).__name__}"
            raise ReplayFileError(path, msg, line=number)
        yield number, value


def load_ticks(path: str | Path, symbols: Sequence[str] = ()) -> list[MarketTickV1]:
    """Every tick of a replay file (only ``symbols`` if given), sorted by ``ts`` (stable)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
        kinds = ", ".join(CSV_SUFFIXES + JSONL_SUFFIXES)
        raise ReplayFileError(path, f"unknown replay file type {suffix!r}; use one of {kinds}")
    wanted = {canonical_symbol(s) for s in symbols}
    ticks: list[MarketTickV1] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = (_csv_rows if suffix in CSV_SUFFIXES else _jsonl_rows)(path, iter(handle))
            for number, row in rows:
                try:
                    tick = _row_tick(row)
                except ValidationError as err:
                    raise ReplayFileError(path, explain(err), line=number) from None
                except ValueError as err:
                    raise ReplayFileError(path, str(err), line=number) from None
                if not wanted or tick.symbol in wanted:
                    ticks.append(tick)
    except OSError as exc:
        raise ReplayFileError(path, f"cannot read replay file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ReplayFileError(path, f"not UTF-8 text: {exc.reason}") from None
    except csv.Error as exc:
        raise ReplayFileError(path, f"bad CSV: {exc}") from None
    if not ticks:
        what = f"for {', '.join(sorted(wanted))}" if wanted else "at all"
        raise ReplayFileError(path, f"no ticks {what}")
    ticks.sort(key=lambda t: t.ts)
    return ticks


class FileReplay:
    """A :class:`~producers.market._types.TickSource` replaying a file.

    ``speed`` divides the original gaps between ticks (1 = real time, 10 = ten times faster,
    0 = as fast as possible). With ``loop`` the file repeats forever; each pass is shifted
    forward by the file's time span plus one average gap, so every symbol's ticks keep
    increasing in time.

    ``times`` says which exchange times the ticks carry:

    - :attr:`TickTimes.ORIGINAL` (the default for a file): the file's own, shifted by whole
      passes when looping; the same file gives the same events (reproducible runs).
    - :attr:`TickTimes.NOW` (the default of the bundled sample): moved to the present as the
      replay plays. Paced (``speed`` > 0), the first tick is dated when the replay starts and
      each later one when it is due, so no tick is ever dated in the future and the gaps are
      the file's divided by ``speed``. At ``speed`` 0 the file is history: the last tick is
      dated when the replay starts and the others keep the file's gaps before it (what a
      backtest over the last hours wants); looping is refused then, since a second pass would
      be dated in the future.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        symbols: Sequence[str] = (),
        speed: float = 1.0,
        loop: bool = False,
        times: TickTimes = TickTimes.ORIGINAL,
        name: str = FILE,
        clock: ReplayClock | None = None,
    ) -> None:
        if speed < 0:
            msg = f"speed must be >= 0 (0 = as fast as possible), got {speed}"
            raise SourceError(msg)
        times = TickTimes(times)
        if times is TickTimes.NOW and loop and speed == 0:
            msg = (
                "times=now with speed 0 cannot loop: every pass after the first would be dated "
                "in the future (give a speed > 0, drop loop, or use times=original)"
            )
            raise SourceError(msg)
        self.path = Path(path)
        self.speed = speed
        self.loop = loop
        self.times = times
        self.name = name
        self.clock: ReplayClock = clock or SystemClock()
        self.rows = load_ticks(self.path, symbols)
        span = self.rows[-1].ts - self.rows[0].ts
        gap = span / (len(self.rows) - 1) if len(self.rows) > 1 else timedelta(seconds=1)
        self.loop_shift = span + max(gap, _MIN_LOOP_GAP)

    def _dater(self, anchor: datetime) -> Callable[[datetime, timedelta], datetime]:
        """How a tick is dated: from its file time and its offset from the replay's first tick
        (passes included); ``anchor`` is the wall time the replay started."""
        first, last = self.rows[0].ts, self.rows[-1].ts
        if self.times is TickTimes.ORIGINAL:
            return lambda ts, offset: first + offset
        if self.speed > 0:
            return lambda ts, offset: anchor + offset / self.speed
        return lambda ts, offset: anchor - (last - ts)

    async def ticks(self) -> AsyncGenerator[SequencedTick, None]:
        rows = self.rows
        count = len(rows)
        clock = self.clock
        started = clock.monotonic()
        date = self._dater(clock.wall())
        first = rows[0].ts
        rounds = 0
        while True:
            shift = self.loop_shift * rounds
            for index, tick in enumerate(rows):
                offset = (tick.ts - first) + shift
                if self.speed > 0:
                    wait = started + offset.total_seconds() / self.speed - clock.monotonic()
                    if wait > 0:
                        await clock.sleep(wait)
                elif index % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                ts = date(tick.ts, offset)
                out = tick if ts == tick.ts else tick.model_copy(update={"ts": ts})
                yield SequencedTick(out, rounds * count + index)
            if not self.loop:
                return
            rounds += 1
