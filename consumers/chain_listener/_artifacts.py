"""ABIs of our own contracts by artifact name: the sources compiled by the pinned solcjs into
the build-info cache under the state dir (a cache hit once ``ixo contracts`` compiled them)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from consumers.chain_listener._errors import AbiUnavailable
from contracts import Build, ContractsError, compile_contracts


class ContractAbis:
    """:class:`consumers.chain_listener.AbiSource` over ``contracts.compile_contracts``."""

    def __init__(self, build_dir: Path) -> None:
        self._build_dir = build_dir
        self._build: Build | None = None
        self._lock = asyncio.Lock()

    async def _compiled(self) -> Build:
        async with self._lock:
            if self._build is None:
                self._build = await asyncio.to_thread(compile_contracts, self._build_dir)
            return self._build

    async def abi(self, artifact: str) -> list[dict[str, Any]]:
        try:
            return list((await self._compiled()).artifact(artifact).abi)
        except ContractsError as exc:
            msg = f"artifact {artifact!r}: {exc}"
            raise AbiUnavailable(msg) from None
