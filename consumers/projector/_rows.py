"""What a projection writes: rows keyed by entity, ordered by where their event sits in Kafka.

Every projection here is a *max-fold*: a row replaces the stored one only when its ``order`` is
greater. That fold is idempotent, commutative and associative, so redelivery, replay and two
writers racing (a live projector beside a replay) all converge to the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from readmodels import ReadModel
from schemas import AnyEvent, Topic

ORDER_WIDTH_PARTITION = 5
ORDER_WIDTH_OFFSET = 20


def order_key(ts: datetime, partition: int, offset: int) -> str:
    """A string that sorts like (ts, partition, offset); ts in UTC with microseconds."""
    stamp = ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp}/{partition:0{ORDER_WIDTH_PARTITION}d}/{offset:0{ORDER_WIDTH_OFFSET}d}"


class Positioned(Protocol):
    """An event and where it sits in its topic (a consumer's delivery satisfies this)."""

    @property
    def event(self) -> AnyEvent: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Row:
    """One read-model document to upsert under ``key`` if ``order`` is newer than the stored."""

    key: str
    order: str
    doc: dict[str, Any]


class Projection(Protocol):
    """Maps positioned events of one topic to rows of one collection."""

    name: ClassVar[str]
    topic: ClassVar[Topic]
    document: ClassVar[type[ReadModel]]

    def rows(self, items: Sequence[Positioned]) -> list[Row]: ...


def newest(rows: Sequence[Row]) -> list[Row]:
    """Keep the newest row per key (the fold within a batch, before touching the database)."""
    best: dict[str, Row] = {}
    for row in rows:
        seen = best.get(row.key)
        if seen is None or row.order > seen.order:
            best[row.key] = row
    return list(best.values())
