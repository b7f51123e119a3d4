"""The fault suite's table: one row per scenario (faults injected, records in, alerts out,
repeats, losses). A scenario records its row on its test item (``user_properties``, which
pytest-xdist carries from a worker to the controller); ``tests/conftest.py`` gathers the rows
and prints the table at the end of the run."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import pytest

PROPERTY: Final = "fault-row"
LEGEND: Final = (
    "repeats: the same event again on a topic, the same webhook event id POSTed again, or a"
    " Telegram message sent again (counted; readers drop the first two; decision 0176)"
)


@dataclass
class Row:
    fault: str
    ticks: int = 0
    alerts: int = 0
    expected: int = 0
    webhooks: int = 0
    telegram: int = 0
    repeats: int = 0
    losses: int = 0
    dead_letters: int = 0


@dataclass
class Report:
    """Where a scenario puts its row: the running test's item."""

    node: pytest.Item

    def add(self, row: Row) -> None:
        self.node.user_properties.append((PROPERTY, dataclasses.asdict(row)))


def rows_of(properties: Iterable[tuple[str, object]]) -> list[Row]:
    found: list[Row] = []
    for name, value in properties:
        if name == PROPERTY and isinstance(value, dict):
            fields: dict[str, Any] = value
            found.append(Row(**fields))
    return found


def table(rows: list[Row]) -> str:
    head = (
        "fault", "ticks in", "alerts out", "expected", "webhook (dedup)", "telegram msgs",
        "repeats", "losses", "DLQ",
    )  # fmt: skip
    cells = [head] + [
        (r.fault, *(str(n) for n in (r.ticks, r.alerts, r.expected, r.webhooks)),
         *(str(n) for n in (r.telegram, r.repeats, r.losses, r.dead_letters)))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    return "\n".join(
        " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells
    )
