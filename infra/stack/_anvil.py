"""The local EVM chain: anvil, the native binary shipped in npm's `@foundry-rs/anvil` platform
package (installed with the contracts' pinned npm packages), or `anvil` on PATH."""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from pydantic import SecretStr

from infra.stack._base import Context, Service, StackError, default_cache_dir
from infra.stack._ports import LOOPBACK, StackPorts
from infra.stack._process import exit_cause, file_lock, is_alive, run_checked, spawn, stop_all

logger = logging.getLogger(__name__)

ANVIL_VERSION = "1.7.1"
CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
#: anvil persists its chain here at this interval and on exit (a kill -9 loses at most this)
STATE_INTERVAL_S = 5
ACCOUNTS_FILE = "accounts.json"

NPM_MISSING = (
    "node/npm not found (the local chain is anvil from npm @foundry-rs/anvil):"
    " install Node.js 18+ with npm (Debian: apt-get install nodejs npm)"
)

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class ChainUnavailableError(StackError):
    """anvil cannot be installed here: the stack runs without a chain."""


def platform_package() -> str | None:
    """The npm package carrying anvil's binary for this machine, e.g. anvil-linux-amd64."""
    arch = _ARCH.get(platform.machine().lower())
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform)
    if arch is None or system is None:
        return None
    return f"anvil-{system}-{arch}"


def find_anvil(contracts_dir: Path = CONTRACTS_DIR) -> Path | None:
    """The pinned npm anvil under `contracts/node_modules`, else `anvil` on PATH."""
    package = platform_package()
    if package is not None:
        name = "anvil.exe" if sys.platform == "win32" else "anvil"
        candidate = contracts_dir / "node_modules" / "@foundry-rs" / package / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("anvil")
    return Path(found) if found else None


def anvil_dev_account(state_dir: Path) -> tuple[str, SecretStr] | None:
    """The first dev account of the stack's anvil (address, key), from the file anvil writes
    at start (`--config-out`) under the state dir; None when there is none."""
    path = Path(state_dir).expanduser().resolve() / "anvil" / ACCOUNTS_FILE
    try:
        data = json.loads(path.read_text())
        return str(data["available_accounts"][0]), SecretStr(str(data["private_keys"][0]))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


class AnvilService(Service):
    """anvil on a loopback port; its chain persisted to `<state dir>/anvil/state.json`."""

    name = "anvil"
    marker = "anvil --host"

    def __init__(self, ctx: Context, block_time_s: float = 0.0) -> None:
        super().__init__(ctx)
        if block_time_s < 0:
            msg = f"the anvil block time must be 0 (automine) or positive, not {block_time_s}"
            raise StackError(msg)
        self.block_time_s = block_time_s

    @property
    def port(self) -> int:
        return self.ctx.ports.anvil

    @property
    def data_dir(self) -> Path:
        return self.ctx.state_dir / "anvil"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def install(self) -> None:
        if find_anvil() is not None:
            return
        with file_lock(
            self.ctx.cache_dir / ".contracts-npm.lock", what="npm install", on_wait=self.ctx.say
        ):
            if find_anvil() is not None:
                return
            npm = shutil.which("npm")
            if npm is None or shutil.which("node") is None:
                raise ChainUnavailableError(NPM_MISSING)
            if not (CONTRACTS_DIR / "package-lock.json").is_file():
                msg = f"no {CONTRACTS_DIR / 'package-lock.json'} to install anvil from"
                raise ChainUnavailableError(msg)
            self.ctx.say(
                f"anvil: installing the contracts' npm packages (anvil {ANVIL_VERSION}, solc,"
                " OpenZeppelin) with npm ci (first time only)"
            )
            self.ctx.cache_dir.mkdir(parents=True, exist_ok=True)
            run_checked(
                [
                    npm,
                    "ci",
                    "--ignore-scripts",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(CONTRACTS_DIR),
                ],
                what="npm ci (contracts)",
                log_path=self.ctx.cache_dir / "contracts-npm.log",
            )
        if find_anvil() is None:
            package = platform_package() or "no package for this platform"
            msg = f"npm ci did not install anvil's binary ({package})"
            raise ChainUnavailableError(msg)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # anvil writes its dev keys into accounts.json here

    def command(self) -> tuple[list[str], dict[str, str] | None, Path]:
        binary = find_anvil()
        if binary is None:
            raise ChainUnavailableError(NPM_MISSING)
        argv = [
            str(binary),
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--state",
            str(self.data_dir / "state.json"),
            "--state-interval",
            str(STATE_INTERVAL_S),
            "--config-out",
            str(self.data_dir / ACCOUNTS_FILE),
            "--quiet",  # the banner lists the dev keys: keep them out of the log
        ]
        if self.block_time_s > 0:
            argv += ["--block-time", f"{self.block_time_s:g}"]
        return argv, None, self.data_dir

    def check(self, timeout: float) -> bool:
        reply = httpx.post(
            self.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            timeout=timeout,
        )
        result = reply.json().get("result")
        return isinstance(result, str) and result.startswith("0x")

    def describe(self) -> str:
        mining = "automine" if self.block_time_s == 0 else f"a block every {self.block_time_s:g}s"
        return f"anvil {ANVIL_VERSION} ({mining}), chain state in {self.data_dir}"


@dataclass
class RunningAnvil:
    """An anvil started alone by `start_anvil` (tests, benchmarks): its URL, pid and files."""

    service: AnvilService
    pid: int

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def data_dir(self) -> Path:
        return self.service.data_dir

    def account(self, index: int = 0) -> tuple[str, SecretStr]:
        """Dev account `index` (address, key) from the file anvil wrote at start."""
        data = json.loads((self.data_dir / ACCOUNTS_FILE).read_text())
        return str(data["available_accounts"][index]), SecretStr(str(data["private_keys"][index]))

    def alive(self) -> bool:
        return is_alive(self.pid, self.service.marker)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (anvil writes its state), then SIGKILL after `timeout`."""
        stop_all([(self.service.name, self.pid, self.service.marker)], timeout)
        self.service.pid_path.unlink(missing_ok=True)


def start_anvil(
    state_dir: Path,
    *,
    port: int | None = None,
    block_time_s: float = 0.0,
    cache_dir: Path | None = None,
    timeout: float = 60.0,
) -> RunningAnvil:
    """Start anvil alone (outside a `LocalStack`) on `port` (default: a free one), its chain
    under `state_dir/anvil`; returns once it answers JSON-RPC."""
    ports = StackPorts.free()
    if port is not None:
        ports = replace(ports, anvil=port, picked=False)
    ctx = Context(Path(state_dir), cache_dir or default_cache_dir(), ports, None)
    service = AnvilService(ctx, block_time_s)
    service.install()
    service.prepare()
    argv, env, cwd = service.command()
    pid = spawn(argv, cwd=cwd, env=env, log_path=service.log_path, pid_path=service.pid_path)
    running = RunningAnvil(service, pid)
    deadline = time.monotonic() + timeout
    while not service.healthy(1.0):
        if not running.alive():
            service.pid_path.unlink(missing_ok=True)
            msg = f"anvil exited during start: {exit_cause(service.log_path)}"
            raise StackError(msg)
        if time.monotonic() > deadline:
            running.stop()
            msg = f"anvil not ready after {timeout:.0f}s (log: {service.log_path})"
            raise StackError(msg)
        time.sleep(0.1)
    return running
