"""Smart-contract watches and observed logs."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, PlainSerializer

from schemas._base import EventData
from schemas._types import EthAddress, HexHash, Id, Timestamp

MAX_ABI_ITEMS = 2000
MAX_CONFIRMATIONS = 1000


class ChainWatchAddedV1(EventData):
    """Follow a contract's logs from ``from_block`` (default: the chain's head when the listener
    first sees the watch). The ABI that decodes them is ``abi`` (JSON ABI items) or the
    compiled contract named ``artifact`` (e.g. ``AlertRegistryV2``); with neither, logs are
    published undecoded. A listener that has a checkpoint for the watch resumes from it: a
    second added event (a new ABI after an upgrade) changes the decoding, not the position."""

    event_type: ClassVar[str] = "ixo.chain.watch.added.v1"
    key_field: ClassVar[str] = "address"

    chain_id: int = Field(ge=1)
    address: EthAddress
    label: str = Field(default="", max_length=200)
    from_block: int | None = Field(default=None, ge=0)
    abi: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_ABI_ITEMS)
    artifact: str | None = Field(
        default=None, max_length=200, pattern=r"^[A-Za-z0-9_./@\-]+(:[A-Za-z_][A-Za-z0-9_]*)?$"
    )
    confirmations: int | None = Field(default=None, ge=0, le=MAX_CONFIRMATIONS)
    """Blocks a log waits behind the head before it is published; unset: the listener's
    ``IXO_CHAIN_CONFIRMATIONS``."""


class ChainWatchRemovedV1(EventData):
    event_type: ClassVar[str] = "ixo.chain.watch.removed.v1"
    key_field: ClassVar[str] = "address"

    chain_id: int = Field(ge=1)
    address: EthAddress


class ChainLogObservedV1(EventData):
    event_type: ClassVar[str] = "ixo.chain.log.observed.v1"
    key_field: ClassVar[str] = "address"

    chain_id: int = Field(ge=1)
    address: EthAddress
    block_number: int = Field(ge=0)
    block_hash: HexHash
    tx_hash: HexHash
    log_index: int = Field(ge=0)
    event: str = Field(min_length=1, max_length=200)
    """The decoded event's name; a log the watch's ABI cannot decode carries its first topic
    (``0x`` + 64 hex digits, the event signature's hash) or ``anonymous`` when it has none, with
    ``decoded`` false and ``args`` empty."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Decoded arguments by name: integers up to 32 bits as JSON numbers, wider ones as decimal
    strings; addresses checksummed; bytes as 0x hex; indexed dynamic values as their topic hash."""
    removed: bool = False
    decoded: bool = True
    topics: list[HexHash] = Field(default_factory=list, max_length=4)
    data: str = Field(default="0x", pattern=r"^0x([0-9a-fA-F]{2})*$")
    block_time: Timestamp | None = None
    transaction_index: int | None = Field(default=None, ge=0)


class _ContractRecord(EventData):
    """A proxy's deployment record (`ixo contracts deploy|upgrade`): where it lives and the
    implementation it runs since this event's transaction."""

    key_field: ClassVar[str] = "address"

    chain_id: int = Field(ge=1)
    address: EthAddress
    """The proxy: the contract's stable address."""
    name: str = Field(min_length=1, max_length=64)
    """The deployment's name (one proxy per name and chain), e.g. AlertRegistry."""
    contract: str = Field(min_length=1, max_length=200)
    """The implementation's contract name, e.g. AlertRegistryV2."""
    version: str = Field(default="", max_length=64)
    implementation: EthAddress
    owner: EthAddress
    block_number: int = Field(ge=0)
    block_hash: HexHash
    tx_hash: HexHash
    source_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    compiler_version: str = Field(default="", max_length=200)


class ChainContractDeployedV1(_ContractRecord):
    event_type: ClassVar[str] = "ixo.chain.contract.deployed.v1"


class ChainContractUpgradedV1(_ContractRecord):
    event_type: ClassVar[str] = "ixo.chain.contract.upgraded.v1"

    previous_implementation: EthAddress


# Transactions the platform sends (issue 13 item 5): one topic, keyed by the transaction's id
# (derived from the sender's idempotency key), so a transaction's story stays in order.

Wei = Annotated[int, Field(ge=0), PlainSerializer(str, return_type=str, when_used="json")]
"""An amount of wei (or gas): an integer, a decimal string in JSON (it outgrows 2**53)."""


class _Transaction(EventData):
    key_field: ClassVar[str] = "tx_id"

    tx_id: Id
    """Derived from ``idempotency_key``: one request is one transaction, however often sent."""
    idempotency_key: str = Field(min_length=1, max_length=300)
    """The sender's idempotency key (e.g. ``<request id>:<call index>`` of an agent tool)."""
    chain_id: int = Field(ge=1)
    sender: EthAddress
    to: EthAddress | None = None
    what: str = Field(default="", max_length=200)
    """What the transaction does, for people (``registerAlert(BTCUSDT, above, ...)``)."""


class ChainTxSubmittedV1(_Transaction):
    """A signed transaction was handed to the node. A replacement (the first one was dropped
    or replaced by another transaction with its nonce) is a new submitted event with
    ``attempt`` > 1 and the hash it replaces."""

    event_type: ClassVar[str] = "ixo.chain.tx.submitted.v1"

    tx_hash: HexHash
    nonce: int = Field(ge=0)
    gas_limit: Wei
    max_fee_per_gas: Wei
    max_priority_fee_per_gas: Wei
    attempt: int = Field(default=1, ge=1)
    replaces: HexHash | None = None


class ChainTxConfirmedV1(_Transaction):
    """The transaction is in a block and succeeded (status 1)."""

    event_type: ClassVar[str] = "ixo.chain.tx.confirmed.v1"

    tx_hash: HexHash
    nonce: int = Field(ge=0)
    block_number: int = Field(ge=0)
    block_hash: HexHash
    gas_used: Wei
    effective_gas_price: Wei
    contract_address: EthAddress | None = None


class ChainTxFailedV1(_Transaction):
    """The transaction cannot succeed: it reverted in a block (``tx_hash`` and ``block_number``
    set) or would revert (refused before sending: no hash)."""

    event_type: ClassVar[str] = "ixo.chain.tx.failed.v1"

    reason: str = Field(min_length=1, max_length=500)
    tx_hash: HexHash | None = None
    nonce: int | None = Field(default=None, ge=0)
    block_number: int | None = Field(default=None, ge=0)
    block_hash: HexHash | None = None
