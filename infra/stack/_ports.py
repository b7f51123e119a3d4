"""Ports of the local stack and small socket helpers."""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class StackPorts:
    """The loopback ports the stack listens on (defaults are the ones of `ixo stack up`).

    `kafka` / `kafka_controller` are the first Kafka node's; `kafka_nodes` the (broker,
    controller) ports of the others in a cluster (`ixo stack up --brokers 3`): by default
    9094/9095, 9096/9097, ...
    """

    kafka: int = 9092
    kafka_controller: int = 9093
    mongodb: int = 27017
    redis: int = 6379
    anvil: int = 8545
    kafka_nodes: tuple[tuple[int, int], ...] = ()
    picked: bool = field(default=False, compare=False)
    """True when `free()` chose these ports: the stack may pick others if one gets taken."""

    @classmethod
    def free(cls, brokers: int = 1) -> StackPorts:
        """Pick currently free, distinct loopback ports (tests, `ixo stack up --free-ports`)."""
        with contextlib.ExitStack() as stack:
            chosen: list[int] = []
            for _ in range(len(_PORT_NAMES) + 2 * (brokers - 1)):
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind((LOOPBACK, 0))
                chosen.append(int(sock.getsockname()[1]))
        kafka, controller, mongodb, redis, anvil, *rest = chosen
        nodes = tuple((rest[i], rest[i + 1]) for i in range(0, len(rest), 2))
        return cls(kafka, controller, mongodb, redis, anvil, nodes, picked=True)

    @classmethod
    def defaults(cls, brokers: int = 1) -> StackPorts:
        """The fixed ports, with 9094/9095, 9096/9097, ... for the other Kafka nodes."""
        base = cls()
        nodes = tuple(
            (base.kafka_controller + 2 * i - 1, base.kafka_controller + 2 * i)
            for i in range(1, brokers)
        )
        return cls(kafka_nodes=nodes)

    @property
    def brokers(self) -> int:
        return 1 + len(self.kafka_nodes)

    def kafka_node(self, node: int) -> tuple[int, int]:
        """(broker, controller) ports of Kafka node `node` (1-based)."""
        if node == 1:
            return self.kafka, self.kafka_controller
        return self.kafka_nodes[node - 2]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: int(getattr(self, name)) for name in _PORT_NAMES}
        if self.kafka_nodes:
            out["kafka_nodes"] = [list(pair) for pair in self.kafka_nodes]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StackPorts:
        values = {k: int(v) for k, v in data.items() if k in _PORT_NAMES}
        default = cls()
        nodes = data.get("kafka_nodes") or ()
        return cls(
            kafka=values.get("kafka", default.kafka),
            kafka_controller=values.get("kafka_controller", default.kafka_controller),
            mongodb=values.get("mongodb", default.mongodb),
            redis=values.get("redis", default.redis),
            anvil=values.get("anvil", default.anvil),
            kafka_nodes=tuple((int(b), int(c)) for b, c in nodes),
        )


_PORT_NAMES = ("kafka", "kafka_controller", "mongodb", "redis", "anvil")


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP `port` (any address), None without procfs."""
    found: set[str] = set()
    readable = False
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        try:
            rows = table.read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == _LISTEN and int(cols[1].rsplit(":", 1)[1], 16) == port:
                found.add(cols[9])
    return found if readable else None


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process `pid` holds the socket listening on `port`: True, False, or None when
    procfs cannot tell (no procfs, or another user's process). A health check answered on a
    port tells nothing about *which* process answered; this does."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    if not inodes:
        return False
    try:
        fds = list((Path("/proc") / str(pid) / "fd").iterdir())
    except OSError:
        return None
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False
