"""Where the Solidity sources, the pinned npm packages and the Node scripts live."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from contracts._errors import ToolchainMissing

PACKAGE_DIR = Path(__file__).resolve().parent

NODE_MISSING = (
    "node not found: install Node.js 18 or newer (Debian: apt-get install nodejs npm),"
    " then: npm ci --prefix contracts"
)


@dataclass(frozen=True)
class ContractsProject:
    """A contracts directory: `src/` (and other source roots), `package.json`, `node_modules/`
    installed from `package-lock.json`, and `scripts/` (the Node side of compile and check)."""

    root: Path = PACKAGE_DIR

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"

    @property
    def scripts(self) -> Path:
        return self.root / "scripts"

    def node(self) -> Path:
        """The `node` executable; ToolchainMissing with a hint when absent."""
        found = shutil.which("node")
        if found is None:
            raise ToolchainMissing(NODE_MISSING)
        return Path(found)

    def require_packages(self) -> None:
        """ToolchainMissing unless the pinned npm packages are installed."""
        if not (self.node_modules / "solc" / "package.json").is_file():
            msg = (
                f"the pinned npm packages are not installed in {self.node_modules}:"
                f" run `make contracts` (or npm ci --prefix {self.root})"
            )
            raise ToolchainMissing(msg)

    def solc_version(self) -> str:
        """The version of the installed npm `solc` (the compiler solcjs runs)."""
        self.require_packages()
        data = json.loads((self.node_modules / "solc" / "package.json").read_text())
        return str(data["version"])
