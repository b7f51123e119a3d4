"""Deployment records: where a proxy lives, which implementation it runs, how it got there.

A record is a JSON file, `<root>/<chain id>/<name>.json`, written atomically; beside it,
`<root>/<chain id>/build-info/<source hash>.json` keeps the build-info of every implementation
the proxy ran, so a later upgrade is checked against the layout actually deployed even after
the sources (or the compile cache) changed.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts._errors import ContractsError
from schemas import ChainContractDeployedV1, ChainContractUpgradedV1

#: namespace of the deterministic ids of deployment-record events
EVENT_ID_NAMESPACE = uuid.UUID("6f1f8a52-3c1e-5d7b-9a57-1c0a7e2b9d13")

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_ADDRESS = r"^0x[0-9a-fA-F]{40}$"
_HASH = r"^0x[0-9a-fA-F]{64}$"


class ImplementationRecord(BaseModel):
    """One implementation a proxy ran: the deploy, then each upgrade."""

    model_config = ConfigDict(frozen=True)

    contract: str
    version: str
    implementation: str = Field(pattern=_ADDRESS)
    source_hash: str
    compiler_version: str
    tx_hash: str = Field(pattern=_HASH)
    """The transaction that put it behind the proxy (the proxy's creation, or the upgrade)."""
    block_number: int = Field(ge=0)
    block_hash: str = Field(pattern=_HASH)
    at: datetime


class DeploymentRecord(BaseModel):
    """A proxy on one chain and the implementation it runs now (`history[-1]`)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=_NAME.pattern)
    chain_id: int = Field(ge=1)
    proxy: str = Field(pattern=_ADDRESS)
    owner: str = Field(pattern=_ADDRESS)
    deployer: str = Field(pattern=_ADDRESS)
    proxy_tx_hash: str = Field(pattern=_HASH)
    proxy_block_number: int = Field(ge=0)
    proxy_block_hash: str = Field(pattern=_HASH)
    history: tuple[ImplementationRecord, ...] = Field(min_length=1)

    @property
    def current(self) -> ImplementationRecord:
        return self.history[-1]

    @property
    def implementation(self) -> str:
        return self.current.implementation

    @property
    def contract(self) -> str:
        return self.current.contract

    @property
    def version(self) -> str:
        return self.current.version

    @property
    def tx_hash(self) -> str:
        return self.current.tx_hash

    @property
    def block_number(self) -> int:
        return self.current.block_number

    def event(self) -> ChainContractDeployedV1 | ChainContractUpgradedV1:
        """The record as the payload of its last step: deployed, or upgraded."""
        fields = {
            "chain_id": self.chain_id,
            "address": self.proxy,
            "name": self.name,
            "contract": self.contract,
            "version": self.version,
            "implementation": self.implementation,
            "owner": self.owner,
            "block_number": self.current.block_number,
            "block_hash": self.current.block_hash,
            "tx_hash": self.current.tx_hash,
            "source_hash": self.current.source_hash,
            "compiler_version": self.current.compiler_version,
        }
        if len(self.history) == 1:
            return ChainContractDeployedV1(**fields)
        return ChainContractUpgradedV1(
            **fields, previous_implementation=self.history[-2].implementation
        )

    def event_id(self) -> str:
        """A deterministic event id (chain, proxy, transaction): publishing the same step twice
        gives the same id, which consumers deduplicate."""
        name = f"{self.chain_id}:{self.proxy.lower()}:{self.current.tx_hash.lower()}"
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))

    def summary(self) -> dict[str, object]:
        """The fields people and programs look for first (`ixo contracts status`)."""
        return {
            "name": self.name,
            "chain_id": self.chain_id,
            "proxy": self.proxy,
            "implementation": self.implementation,
            "contract": self.contract,
            "version": self.version,
            "owner": self.owner,
            "block_number": self.block_number,
            "tx_hash": self.tx_hash,
            "source_hash": self.current.source_hash,
            "upgrades": len(self.history) - 1,
        }


class DeploymentStore:
    """Deployment records under one directory (the CLI uses `<state dir>/contracts/deployments`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, chain_id: int, name: str) -> Path:
        if not _NAME.match(name):
            msg = f"invalid deployment name {name!r} (letters, digits, _; starting with a letter)"
            raise ContractsError(msg)
        return self.root / str(int(chain_id)) / f"{name}.json"

    def build_info_path(self, chain_id: int, source_hash: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", source_hash):
            msg = f"invalid source hash {source_hash!r}"
            raise ContractsError(msg)
        return self.root / str(int(chain_id)) / "build-info" / f"{source_hash}.json"

    def load(self, chain_id: int, name: str) -> DeploymentRecord | None:
        path = self.path(chain_id, name)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            return DeploymentRecord.model_validate_json(text)
        except ValidationError as exc:
            msg = f"the deployment record {path} is damaged: {exc.errors()[0]['msg']}"
            raise ContractsError(msg) from None

    def save(self, record: DeploymentRecord, build_info: Path) -> Path:
        """Write the record (atomically) and keep a copy of its implementation's build-info."""
        kept = self.build_info_path(record.chain_id, record.current.source_hash)
        if not kept.is_file():
            kept.parent.mkdir(parents=True, exist_ok=True)
            tmp = kept.with_name(f".{kept.name}.{os.getpid()}.tmp")
            shutil.copyfile(build_info, tmp)
            tmp.replace(kept)
        path = self.path(record.chain_id, record.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(record.model_dump_json(indent=2) + "\n")
        tmp.replace(path)
        return path

    def records(self) -> list[DeploymentRecord]:
        """Every record, by chain then name."""
        found = []
        for path in sorted(self.root.glob("*/*.json")):
            if path.parent.name.isdigit():
                record = self.load(int(path.parent.name), path.stem)
                if record is not None:
                    found.append(record)
        return found
