"""The contracts package's errors, in the platform's tree (`schemas.IxoError`)."""

from __future__ import annotations

from schemas import IxoError, PermanentError, TransientError


class ContractsError(IxoError):
    """A contracts operation failed; the message is one line meant for a person."""


class ToolchainMissing(ContractsError):  # noqa: N818 - reads as what happened
    """Node.js or the pinned npm packages (`contracts/node_modules`) are not installed."""


class CompileFailed(ContractsError, PermanentError):  # noqa: N818
    """solc refused the sources."""


class IncompatibleUpgrade(ContractsError, PermanentError):  # noqa: N818
    """upgrades-core found the new implementation unsafe to put behind the proxy."""


class ChainUnavailable(ContractsError, TransientError):  # noqa: N818
    """The JSON-RPC endpoint does not answer."""


class TransactionFailed(ContractsError):  # noqa: N818
    """A transaction reverted, or its receipt did not come in time."""


class DeploymentNotFound(ContractsError):  # noqa: N818
    """No deployment record for this name on this chain (or it is not on the chain)."""


class TransactionReverted(TransactionFailed, PermanentError):  # noqa: N818
    """The transaction reverted (in a block, or when estimated): sending it again cannot help."""


class TransactionPending(ContractsError, TransientError):  # noqa: N818
    """No receipt within the wait: the transaction may still land (ask again with its key)."""


class FeesTooHigh(ContractsError, TransientError):  # noqa: N818
    """The fees the chain asks exceed the configured cap (or it has no EIP-1559 fees)."""


class IdempotencyConflict(ContractsError, PermanentError):  # noqa: N818
    """An idempotency key already sent a different transaction."""
