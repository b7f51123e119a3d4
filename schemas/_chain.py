"""Smart-contract watches and observed logs."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from schemas._base import EventData
from schemas._types import EthAddress, HexHash


class ChainWatchAddedV1(EventData):
    event_type: ClassVar[str] = "ixo.chain.watch.added.v1"
    key_field: ClassVar[str] = "address"

    chain_id: int = Field(ge=1)
    address: EthAddress
    label: str = Field(default="", max_length=200)
    from_block: int | None = Field(default=None, ge=0)


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
    args: dict[str, Any] = Field(default_factory=dict)
    removed: bool = False


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
