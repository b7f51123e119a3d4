"""Process-level tuning every Impressox service applies at start."""

from __future__ import annotations

import gc

GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for a process that decodes events all day.

    Decoded events are acyclic and short-lived, but with CPython's default gen-0 threshold
    (700) a consumer holding a batch of a few thousand events triggers collections that scan
    them again and again: measured here, it doubles the cost of decoding a batch (12 us vs 6 us
    per event). Freezing what start-up allocated and raising the gen-0 threshold keeps the
    collector for real cycles without paying for it per event.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 50, 100)
