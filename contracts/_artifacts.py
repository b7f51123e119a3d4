"""Compiled contracts: what a build produced, read back from its build-info file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from contracts._errors import ContractsError


class ContractArtifact(BaseModel):
    """One compiled contract: what deploying, calling and decoding it needs."""

    model_config = ConfigDict(frozen=True)

    name: str
    source: str
    """The source unit it is declared in, e.g. `src/AlertRegistry.sol`."""
    abi: list[dict[str, Any]]
    bytecode: str
    """Creation code, 0x-prefixed ("0x" for an interface or abstract contract)."""
    deployed_bytecode: str
    storage_layout: dict[str, Any]
    compiler_version: str
    source_hash: str

    @property
    def fully_qualified_name(self) -> str:
        return f"{self.source}:{self.name}"

    @property
    def deployable(self) -> bool:
        return len(self.bytecode) > 2


class Build(BaseModel):
    """One compilation: its source hash (the cache key), compiler, build-info file, contracts."""

    model_config = ConfigDict(frozen=True)

    source_hash: str
    compiler_version: str
    build_info: Path
    cached: bool
    seconds: float
    contracts: tuple[ContractArtifact, ...]

    def artifact(self, name: str) -> ContractArtifact:
        """A contract by name (`AlertRegistry`) or fully qualified name (`src/X.sol:X`)."""
        if ":" in name:
            found = [c for c in self.contracts if c.fully_qualified_name == name]
        else:
            found = [c for c in self.contracts if c.name == name]
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(c.fully_qualified_name for c in found)
            msg = f"{name} is ambiguous in this build ({names}): use a fully qualified name"
            raise ContractsError(msg)
        ours = sorted(c.name for c in self.contracts if not c.source.startswith("@"))
        msg = f"no contract {name!r} in this build; its own contracts: {', '.join(ours)}"
        raise ContractsError(msg)


def load_build(build_info: Path, *, cached: bool, seconds: float) -> Build:
    """Read the contracts of a build-info file written by `scripts/compile.cjs`."""
    try:
        data = json.loads(build_info.read_text())
        source_hash = str(data["id"])
        version = str(data["solcLongVersion"])
        output = data["output"]["contracts"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"unreadable build-info {build_info}: {exc}"
        raise ContractsError(msg) from exc
    contracts = tuple(
        ContractArtifact(
            name=name,
            source=source,
            abi=item.get("abi", []),
            bytecode=_hex(item.get("evm", {}).get("bytecode", {}).get("object", "")),
            deployed_bytecode=_hex(
                item.get("evm", {}).get("deployedBytecode", {}).get("object", "")
            ),
            storage_layout=item.get("storageLayout") or {},
            compiler_version=version,
            source_hash=source_hash,
        )
        for source, by_name in sorted(output.items())
        for name, item in sorted(by_name.items())
    )
    return Build(
        source_hash=source_hash,
        compiler_version=version,
        build_info=build_info,
        cached=cached,
        seconds=seconds,
        contracts=contracts,
    )


def _hex(code: str) -> str:
    return code if code.startswith("0x") else f"0x{code}"
