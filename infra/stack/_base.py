"""Shared types of the local stack: errors, statuses, the context each service runs in."""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.stack._ports import LOOPBACK, StackPorts, port_open

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


class StackError(Exception):
    """A failure of the local stack, with a one-line message meant for a person."""


class PortConflictError(StackError):
    """A port the stack needs is taken by another program (before or while a server binds)."""


@dataclass(frozen=True)
class ServiceStatus:
    """What `LocalStack.status()` reports for one service."""

    name: str
    running: bool
    pid: int | None
    address: str
    detail: str
    kind: str = "service"
    """"service" (a server of the stack) or "component" (a process `ixo up` runs)."""


def default_cache_dir() -> Path:
    """Where installs are cached: `$IXO_CACHE_DIR`, else `~/.cache/impressox`."""
    env = os.environ.get("IXO_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path.home() / ".cache" / "impressox"


class Context:
    """Paths, ports and the progress sink shared by the services of one stack."""

    def __init__(
        self, state_dir: Path, cache_dir: Path, ports: StackPorts, progress: Progress | None
    ) -> None:
        self.state_dir = state_dir
        self.cache_dir = cache_dir
        self.ports = ports
        self._progress = progress
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        """Log a step and pass it to the progress callback (serialised across threads)."""
        logger.info("%s", message)
        if self._progress is not None:
            with self._lock:
                self._progress(message)

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"


class Service(ABC):
    """One server process of the stack."""

    #: the name used for logs/<name>.log, run/<name>.pid and in statuses
    name: str
    #: a substring of the process command line, to tell our process from a reused pid
    marker: str

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    @abstractmethod
    def port(self) -> int:
        """The client port."""

    @property
    def extra_ports(self) -> tuple[int, ...]:
        """Other ports the process binds (checked free before a start)."""
        return ()

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.ctx.logs_dir / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.ctx.run_dir / f"{self.name}.pid"

    @abstractmethod
    def install(self) -> None:
        """Install (or find) what the service needs; fast when already cached."""

    @abstractmethod
    def prepare(self) -> None:
        """Write configuration and initialise data before a start."""

    @abstractmethod
    def command(self) -> tuple[list[str], dict[str, str] | None, Path]:
        """The argv, environment (None: inherit) and working directory of the server."""

    @abstractmethod
    def check(self, timeout: float) -> bool:
        """True when the server answers a real request (not only a TCP connect)."""

    @abstractmethod
    def describe(self) -> str:
        """A short description for statuses, e.g. 'Apache Kafka 4.4.0 (KRaft)'."""

    def healthy(self, timeout: float = 2.0) -> bool:
        if not port_open(self.port):
            return False
        try:
            return self.check(timeout)
        except Exception:  # a health probe never raises: the caller retries
            logger.debug("%s health check failed", self.name, exc_info=True)
            return False
