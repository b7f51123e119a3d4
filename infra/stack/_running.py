"""The platform's own processes running beside the stack (started by `ixo up`), recorded in
`run/components.json` under the state dir so `ixo stack status` can show them."""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra.stack._base import ServiceStatus
from infra.stack._process import file_lock, is_alive

_FILE = "components.json"


@dataclass(frozen=True)
class ComponentRecord:
    """One recorded process: its component name, pid, what tells it from a reused pid (a
    substring of its command line) and where it answers ("" when it does not listen)."""

    name: str
    pid: int
    marker: str
    address: str = ""


class RunningComponents:
    """The record of the components one supervisor (`ixo up`) runs, kept under `state_dir`.

    The supervisor adds each child as it starts and clears the record when it stops; a record
    left by a supervisor that was killed shows its components as stopped (their pids are
    checked, not trusted).
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir).expanduser().resolve() / "run" / _FILE

    def add(self, record: ComponentRecord) -> None:
        with self._locked():
            data = self._read()
            if data.get("owner") != os.getpid():
                data = {"owner": os.getpid(), "components": []}
            items = [c for c in data["components"] if c.get("name") != record.name]
            data["components"] = [*items, asdict(record)]
            self._write(data)

    def clear(self) -> None:
        """Forget what this process recorded (another supervisor's record is left alone)."""
        with self._locked():
            if self._read().get("owner") == os.getpid():
                self.path.unlink(missing_ok=True)

    def records(self) -> list[ComponentRecord]:
        found: list[ComponentRecord] = []
        for item in self._read().get("components", []):
            try:
                found.append(
                    ComponentRecord(
                        name=str(item["name"]),
                        pid=int(item["pid"]),
                        marker=str(item["marker"]),
                        address=str(item.get("address", "")),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
        return found

    def statuses(self) -> list[ServiceStatus]:
        """Each recorded component: running or not (its pid checked), pid and address."""
        statuses = []
        for record in self.records():
            alive = is_alive(record.pid, record.marker)
            statuses.append(
                ServiceStatus(
                    name=record.name,
                    running=alive,
                    pid=record.pid if alive else None,
                    address=record.address,
                    detail="component (ixo up)" if alive else "component (ixo up); not running",
                    kind="component",
                )
            )
        return statuses

    def _locked(self) -> AbstractContextManager[None]:
        return file_lock(self.path.with_name(".components.lock"), what="components record")

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("components"), list):
            return {}
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.path)
