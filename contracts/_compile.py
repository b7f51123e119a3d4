"""Compile the Solidity sources with the pinned solcjs through standard JSON, cached by hash.

Python gathers every source the roots import (ours and OpenZeppelin's from `node_modules`)
into one standard JSON input, so the input alone determines the output: its SHA-256, with the
compiler version, is the source hash and the build-info file's name. A second compile of the
same sources reads that file back instead of running solc.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contracts._artifacts import Build, load_build
from contracts._errors import CompileFailed, ContractsError, ToolchainMissing
from contracts._project import ContractsProject

DEFAULT_ROOTS: tuple[str, ...] = ("src",)
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200
COMPILE_TIMEOUT_S = 600.0

#: what upgrades-core needs in a build-info: storage layouts and ASTs of every contract
OUTPUT_SELECTION: dict[str, Any] = {
    "*": {
        "*": [
            "abi",
            "evm.bytecode.object",
            "evm.bytecode.linkReferences",
            "evm.deployedBytecode.object",
            "evm.deployedBytecode.linkReferences",
            "evm.methodIdentifiers",
            "metadata",
            "storageLayout",
        ],
        "": ["ast"],
    }
}

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_IMPORT = re.compile(r"""\bimport\s+(?:[^;"']*?\bfrom\s+)?["']([^"']+)["']\s*(?:as\s+\w+\s*)?;""")


def solidity_imports(text: str) -> list[str]:
    """The paths a Solidity file imports, in order (comments ignored)."""
    return _IMPORT.findall(_COMMENTS.sub(" ", text))


def resolve_import(importer: str, path: str) -> str:
    """The source unit name `path` refers to when imported from unit `importer`."""
    if path.startswith(("./", "../")):
        path = posixpath.join(posixpath.dirname(importer), path)
    unit = posixpath.normpath(path)
    if unit.startswith(("../", "/")) or unit == "..":
        msg = f"{importer} imports {path!r}, outside the contracts directory"
        raise CompileFailed(msg)
    return unit


def collect_sources(project: ContractsProject, roots: Sequence[str]) -> dict[str, str]:
    """Every `.sol` file under `roots` (relative to the project) and what they import,
    transitively: source unit name -> content. `@scope/...` units come from `node_modules`."""
    pending: list[str] = []
    for root in roots:
        base = (project.root / root).resolve()
        if not base.is_dir() or not base.is_relative_to(project.root.resolve()):
            msg = f"no source directory {root!r} in {project.root}"
            raise ContractsError(msg)
        pending += sorted(
            p.relative_to(project.root.resolve()).as_posix() for p in base.rglob("*.sol")
        )
    if not pending:
        msg = f"no .sol files under {', '.join(roots)} in {project.root}"
        raise ContractsError(msg)
    sources: dict[str, str] = {}
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        file = (project.node_modules if unit.startswith("@") else project.root) / unit
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            if unit.startswith("@"):
                project.require_packages()
            msg = f"source {unit!r} not found (looked for {file})"
            raise CompileFailed(msg) from None
        sources[unit] = text
        pending += [resolve_import(unit, path) for path in solidity_imports(text)]
    return dict(sorted(sources.items()))


def standard_input(sources: dict[str, str]) -> dict[str, Any]:
    """The solc standard JSON input for `sources` with the project's fixed settings."""
    return {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "outputSelection": OUTPUT_SELECTION,
        },
    }


def source_hash(input_json: bytes, solc_version: str) -> str:
    """The cache key: SHA-256 of the compiler version and the exact standard JSON input."""
    digest = hashlib.sha256()
    digest.update(f"solc {solc_version}\n".encode())
    digest.update(input_json)
    return digest.hexdigest()


def compile_contracts(
    build_dir: Path,
    *,
    project: ContractsProject | None = None,
    roots: Sequence[str] = DEFAULT_ROOTS,
    timeout: float = COMPILE_TIMEOUT_S,
) -> Build:
    """Compile `roots` (default `src/`) into `build_dir/<source hash>.json` and return the
    build; when that file exists already, read it back without compiling."""
    project = project or ContractsProject()
    started = time.monotonic()
    version = project.solc_version()
    sources = collect_sources(project, roots)
    raw = json.dumps(standard_input(sources), sort_keys=True, separators=(",", ":")).encode()
    key = source_hash(raw, version)
    target = build_dir / f"{key}.json"
    if target.is_file():
        return load_build(target, cached=True, seconds=time.monotonic() - started)
    build_dir.mkdir(parents=True, exist_ok=True)
    _run_solcjs(project, raw, target, key, timeout)
    return load_build(target, cached=False, seconds=time.monotonic() - started)


def _run_solcjs(
    project: ContractsProject, raw: bytes, target: Path, key: str, timeout: float
) -> None:
    argv = [str(project.node()), str(project.scripts / "compile.cjs"), str(target), key]
    try:
        done = subprocess.run(
            argv,
            input=raw,
            capture_output=True,
            cwd=project.root,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        msg = f"solcjs took more than {timeout:.0f}s"
        raise CompileFailed(msg) from None
    except OSError as exc:
        msg = f"could not run node: {exc.strerror}"
        raise ToolchainMissing(msg) from None
    summary = _last_json_line(done.stdout)
    if done.returncode == 0 and summary.get("ok") and target.is_file():
        return
    errors = [str(e) for e in summary.get("errors", [])]
    if not errors:
        stderr = done.stderr.decode(errors="replace").strip().splitlines()
        errors = [stderr[-1] if stderr else f"solcjs exited with {done.returncode}"]
    first = " ".join(errors[0].split())
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    msg = f"solc: {first}{more}"
    raise CompileFailed(msg)


def _last_json_line(stdout: bytes) -> dict[str, Any]:
    for line in reversed(stdout.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}
