"""Where a rule sits in the threshold index, and which part of the index a batch can touch.

Each symbol has a few sorted sets of rule ids, scored by threshold, named after what makes their
rules move:

- ``up``: the price rising to T (an armed ``above``: price >= T; a waiting ``below`` or
  ``crosses_below``, re-armed when price > T);
- ``dn``: the price falling to T (an armed ``below``; a waiting ``above`` or ``crosses_above``,
  re-armed when price < T);
- ``xa`` / ``xb``: armed ``crosses_above`` / ``crosses_below`` (previous < T <= price /
  previous > T >= price);
- ``pu<w>`` / ``pd<w>``: the same for the pct_change over ``w`` seconds rising / falling to T
  (armed with T > 0 / T < 0; waiting with T < 0 / T > 0);
- ``cd``: cooling rules, scored by the end of their cooldown (tick time, ms).

A ``done`` rule is in no set; every other rule is in exactly one.

Soundness: for a batch of ticks of one symbol with prices in [lo, hi], the symbol's previous
price ``prev``, tick times up to ``t`` and pct changes in [clo, chi] per window, every rule that
:func:`step` would change on some tick of the batch is in one of these ranges:

=======  ============================
set      range fetched
=======  ============================
up       [-inf, hi]
dn       [lo, +inf]
xa       [min(prev, lo), hi]
xb       [lo, max(prev, hi)]
pu<w>    [-inf, chi]
pd<w>    [clo, +inf]
cd       [-inf, t]
=======  ============================

Bounds are inclusive, so the rounding of decimal thresholds to float scores only ever adds
candidates (rounding is monotonic); the core then decides exactly, on Decimals, and leaves
every candidate that does not move unchanged. A tick batch thus costs O(log n + k) in Redis, k
the rules it moves (fires, re-arms, cools down), whatever the number of rules n.
"""

from __future__ import annotations

from typing import Final

from consumers.rule_engine._matching import (
    ARMED,
    COOLING,
    DONE,
    WAITING,
    Phase,
    RuleSpec,
    RuleState,
)

PHASE_CODES: Final[dict[Phase, str]] = {ARMED: "a", WAITING: "w", COOLING: "c", DONE: "d"}
CODE_PHASES: Final[dict[str, Phase]] = {v: k for k, v in PHASE_CODES.items()}
PRICE_SETS: Final = ("up", "dn", "xa", "xb", "cd")
COOLING_SET: Final = "cd"
_ARMED: Final = {"above": "up", "below": "dn", "crosses_above": "xa", "crosses_below": "xb"}
_WAITING: Final = {"above": "dn", "below": "up", "crosses_above": "dn", "crosses_below": "up"}


def pct_sets(window_s: int) -> tuple[str, str]:
    """The (rising, falling) sets of the pct_change rules over ``window_s``."""
    return f"pu{window_s}", f"pd{window_s}"


def placement(spec: RuleSpec, state: RuleState) -> tuple[str, str] | None:
    """The set (named relative to its symbol) holding a rule in ``state``, and its score."""
    phase = state.phase
    if phase == COOLING:
        return COOLING_SET, str(state.until_ms)
    if phase == DONE:
        return None
    kind = spec.condition.kind
    score = spec.score
    if kind == "pct_change":
        rising, falling = pct_sets(spec.condition.window_s or 0)
        positive = spec.condition.threshold > 0
        return (rising if positive == (phase == ARMED) else falling), score
    return (_ARMED if phase == ARMED else _WAITING)[kind], score
