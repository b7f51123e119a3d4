"""The chain listener's errors: the node is unreachable or failing (retry later), the node
refused a block range (retry with a smaller one), a watch's ABI cannot be had."""

from __future__ import annotations

from schemas import PermanentError, TransientError


class RpcError(TransientError):
    """The node did not answer usefully (down, timeout, a JSON-RPC error): retried later."""


class RangeRefused(RpcError):  # noqa: N818 - reads as what happened
    """The node refused an ``eth_getLogs`` range as too large (or timed out on it)."""


class AbiUnavailable(PermanentError):  # noqa: N818
    """A watch names an ABI that cannot be had (unknown artifact, an ABI that is not one)."""
