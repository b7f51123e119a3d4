"""Generate the synthetic sample dataset ``sample_ticks.csv``: a seeded random walk.

    python -m producers.market.data.generate [--out PATH] [--count N] [--seed N]

Each symbol's price follows a geometric random walk (normal log-returns, per-symbol volatility),
rounded to the symbol's tick size; ticks arrive as a Poisson process across symbols (exponential
gaps, mean 250 ms) starting at a fixed instant. The same seed always writes the same bytes.
These are not market data: use them for demos and tests, never for analysis.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

DEFAULT_OUT = Path(__file__).with_name("sample_ticks.csv")
DEFAULT_COUNT = 2000
DEFAULT_SEED = 20250106
START = datetime(2025, 1, 6, tzinfo=UTC)
MEAN_GAP_S = 0.25
VENUE = "synthetic"
COLUMNS = ("ts", "symbol", "price", "volume", "venue")


@dataclass(frozen=True)
class Walk:
    symbol: str
    start: float
    sigma: float  # standard deviation of one tick's log-return
    tick_size: Decimal
    size_scale: float  # typical trade size
    size_step: Decimal
    weight: float  # share of the ticks


WALKS = (
    Walk("BTCUSDT", 64000.0, 0.0004, Decimal("0.01"), 0.02, Decimal("0.00001"), 0.4),
    Walk("ETHUSDT", 3400.0, 0.0006, Decimal("0.01"), 0.3, Decimal("0.0001"), 0.3),
    Walk("SOLUSDT", 150.0, 0.0009, Decimal("0.01"), 5.0, Decimal("0.001"), 0.2),
    Walk("DOGEUSDT", 0.16, 0.0012, Decimal("0.00001"), 2000.0, Decimal("1"), 0.1),
)


def rows(count: int, seed: int) -> list[tuple[str, str, str, str, str]]:
    """``count`` rows (ts, symbol, price, volume, venue) of the random walk seeded by ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not cryptography
    prices = {w.symbol: w.start for w in WALKS}
    weights = [w.weight for w in WALKS]
    now = START
    out = []
    for _ in range(count):
        now += timedelta(milliseconds=max(1, round(rng.expovariate(1 / MEAN_GAP_S) * 1000)))
        walk = rng.choices(WALKS, weights)[0]
        prices[walk.symbol] *= math.exp(rng.gauss(0.0, walk.sigma))
        price = Decimal(repr(prices[walk.symbol])).quantize(walk.tick_size)
        size = Decimal(repr(rng.lognormvariate(0.0, 1.0) * walk.size_scale))
        volume = max(size.quantize(walk.size_step), walk.size_step)
        stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append((stamp, walk.symbol, str(price), str(volume), VENUE))
    return out


def write(path: Path, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> int:
    """Write the sample to ``path``; returns the number of ticks."""
    data = rows(count, seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(data)
    return len(data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    written = write(args.out, args.count, args.seed)
    sys.stderr.write(f"wrote {written} synthetic ticks to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
