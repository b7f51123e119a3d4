"""Run every benchmark, one after the other: ``python -m benchmarks``."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "backbone",
    "gateway",
    "agent",
    "notify",
    "rules",
    "embed",
    "chain",
    "chain_txs",
    "trace",
    "redis_rebuild",
    "replay",
    "pipeline",
    "latency",
)


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        print(f"== benchmarks.{name}", flush=True)
        failed += subprocess.call([sys.executable, "-m", f"benchmarks.{name}"]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
