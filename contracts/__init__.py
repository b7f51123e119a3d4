"""Solidity contracts of Impressox and the Python side that builds and ships them.

- `compile_contracts(build_dir)`: the sources under `src/` compiled by the pinned npm `solc`
  (solcjs, standard JSON), cached by source hash as build-info files -> `Build` of
  `ContractArtifact`s (ABI, bytecode, storage layout, compiler version, source hash).
- `check_upgrade` / `require_compatible`: OpenZeppelin upgrades-core's storage-layout and
  upgrade-safety validation of a new implementation against the deployed one's build-info.
- `Chain`, `deploy_proxy`, `upgrade_proxy`: web3.py against a JSON-RPC endpoint, signing with
  a key given as `SecretStr`; they return a `DeploymentRecord`, kept by `DeploymentStore`.
- `TransactionService`: the platform's transactions, idempotent by key (`RedisTxStore`), with
  a `NonceManager`, EIP-1559 fees, receipts with a timeout, recovery of dropped or replaced
  transactions, and `ixo.chain.tx.*` events.
- `JsonRpc`: the node over plain JSON-RPC (httpx), for the transaction service and the chain
  listener alike; a node down, failing or slow is `ChainUnavailable` (`RpcTimedOut`,
  `RpcHttpError`), an error answer `RpcRefused`; `redacted` names a URL without its secrets.

This package takes its settings as arguments and imports no infrastructure (layer rule). web3
(about a second to import) loads on first use of the chain names, not with the package.
"""

from typing import TYPE_CHECKING, Any

from contracts._artifacts import Build, ContractArtifact, load_build
from contracts._compile import DEFAULT_ROOTS, compile_contracts, source_hash
from contracts._errors import (
    ChainUnavailable,
    CompileFailed,
    ContractsError,
    DeploymentNotFound,
    FeesTooHigh,
    IdempotencyConflict,
    IncompatibleUpgrade,
    ToolchainMissing,
    TransactionFailed,
    TransactionPending,
    TransactionReverted,
)
from contracts._fees import FeePolicy, Fees, fees_from_history
from contracts._nonces import NonceManager, NonceSlot
from contracts._project import ContractsProject
from contracts._records import DeploymentRecord, DeploymentStore, ImplementationRecord
from contracts._redis import RedisTxStore, TxStoreUnavailable
from contracts._rpc import (
    JsonRpc,
    RpcHttpError,
    RpcRefused,
    RpcTimedOut,
    quantity,
    redacted,
)
from contracts._transactions import (
    TransactionService,
    TxAttempt,
    TxLog,
    TxOutcome,
    TxRecord,
    TxRequest,
    TxStore,
    tx_id_for,
)
from contracts._upgrade_check import UpgradeReport, check_upgrade, require_compatible

if TYPE_CHECKING:
    from contracts._deploy import (
        IMPLEMENTATION_SLOT,
        PROXY_CONTRACT,
        Chain,
        deploy_proxy,
        deployment_problem,
        upgrade_proxy,
    )

_CHAIN_NAMES = frozenset(
    {
        "IMPLEMENTATION_SLOT",
        "PROXY_CONTRACT",
        "Chain",
        "deploy_proxy",
        "deployment_problem",
        "upgrade_proxy",
    }
)


def __getattr__(name: str) -> Any:
    if name in _CHAIN_NAMES:
        from contracts import _deploy

        return getattr(_deploy, name)
    msg = f"module 'contracts' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "DEFAULT_ROOTS",
    "IMPLEMENTATION_SLOT",
    "PROXY_CONTRACT",
    "Build",
    "Chain",
    "ChainUnavailable",
    "CompileFailed",
    "ContractArtifact",
    "ContractsError",
    "ContractsProject",
    "DeploymentNotFound",
    "DeploymentRecord",
    "DeploymentStore",
    "FeePolicy",
    "Fees",
    "FeesTooHigh",
    "IdempotencyConflict",
    "ImplementationRecord",
    "IncompatibleUpgrade",
    "JsonRpc",
    "NonceManager",
    "NonceSlot",
    "RedisTxStore",
    "RpcHttpError",
    "RpcRefused",
    "RpcTimedOut",
    "ToolchainMissing",
    "TransactionFailed",
    "TransactionPending",
    "TransactionReverted",
    "TransactionService",
    "TxAttempt",
    "TxLog",
    "TxOutcome",
    "TxRecord",
    "TxRequest",
    "TxStore",
    "TxStoreUnavailable",
    "UpgradeReport",
    "check_upgrade",
    "compile_contracts",
    "deploy_proxy",
    "deployment_problem",
    "fees_from_history",
    "load_build",
    "quantity",
    "redacted",
    "require_compatible",
    "source_hash",
    "tx_id_for",
    "upgrade_proxy",
]
