"""Ports of the local stack and small socket helpers."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import asdict, dataclass, fields
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class StackPorts:
    """The loopback ports the stack listens on (defaults are the ones of `ixo stack up`)."""

    kafka: int = 9092
    kafka_controller: int = 9093
    mongodb: int = 27017
    redis: int = 6379

    @classmethod
    def free(cls) -> StackPorts:
        """Pick currently free, distinct loopback ports (for tests)."""
        with contextlib.ExitStack() as stack:
            picked: list[int] = []
            for _ in fields(cls):
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind((LOOPBACK, 0))
                picked.append(int(sock.getsockname()[1]))
        return cls(*picked)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StackPorts:
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in data.items() if k in names})


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
