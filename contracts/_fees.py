"""EIP-1559 fees from ``eth_feeHistory``: the next block's base fee and a priority fee.

``max_fee = 2 * base_fee + priority``: the transaction stays includable through six full blocks
in a row (each may raise the base fee by 12.5%), and pays only base fee + priority when mined.
The priority fee is the median of the recent blocks' 50th-percentile tips, at least
``min_priority_wei``; fees above ``max_fee_cap_wei`` are refused (send later) rather than paid.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Final

from contracts._errors import FeesTooHigh
from contracts._rpc import quantity

HISTORY_BLOCKS: Final = 10
PERCENTILE: Final = 50.0
GWEI: Final = 10**9


@dataclass(frozen=True, slots=True)
class FeePolicy:
    min_priority_wei: int = GWEI // 1000
    """The least tip offered (0.001 gwei), even when recent blocks were free."""
    max_priority_wei: int = 50 * GWEI
    max_fee_cap_wei: int | None = None
    """Refuse to send when ``max_fee`` would exceed this (None: no cap)."""


@dataclass(frozen=True, slots=True)
class Fees:
    base_fee_wei: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int


def fees_from_history(history: dict[str, Any], policy: FeePolicy) -> Fees:
    """The fees to offer, given an ``eth_feeHistory`` answer (its last ``baseFeePerGas`` entry
    is the next block's base fee)."""
    bases = history.get("baseFeePerGas") or []
    if not bases:
        msg = "the node's fee history has no base fee: not an EIP-1559 chain"
        raise FeesTooHigh(msg)
    base = quantity(bases[-1])
    tips = [quantity(row[0]) for row in history.get("reward") or [] if row]
    tip = int(statistics.median(tips)) if tips else 0
    tip = min(max(tip, policy.min_priority_wei), policy.max_priority_wei)
    max_fee = 2 * base + tip
    if policy.max_fee_cap_wei is not None and max_fee > policy.max_fee_cap_wei:
        if base + tip > policy.max_fee_cap_wei:
            msg = (
                f"fees too high: base fee {base / GWEI:.3f} gwei + tip {tip / GWEI:.3f} gwei"
                f" exceed the cap of {policy.max_fee_cap_wei / GWEI:.3f} gwei"
            )
            raise FeesTooHigh(msg)
        max_fee = policy.max_fee_cap_wei
    return Fees(base_fee_wei=base, max_priority_fee_per_gas=tip, max_fee_per_gas=max_fee)
