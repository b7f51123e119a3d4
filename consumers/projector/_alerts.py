"""The ``alerts`` projection: every rule match, once per ``match_id``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from beanie import Document
from pydantic import Field
from pymongo import IndexModel

from consumers.projector._documents import offset_order, to_document
from consumers.projector._rows import Positioned, Row
from schemas import ALERT_MATCHES, AlertTriggeredV1, Topic


class Alert(Document):
    """One ``ixo.alert.triggered.v1``, with the explanation it carries."""

    id: str = Field(description="The match id")  # type: ignore[assignment]
    match_id: str
    rule_id: str
    user_id: str
    symbol: str
    price: str
    condition: dict[str, Any]
    tick_id: str
    triggered_at: datetime
    rule_version: int | None = None
    tick_topic: str | None = None
    tick_partition: int | None = None
    tick_offset: int | None = None
    previous_price: str | None = None
    reference_price: str | None = None
    reference_time: datetime | None = None
    change_pct: str | None = None
    event_id: str
    order: str

    class Settings:
        name = "alerts"
        indexes: ClassVar[list[IndexModel]] = [
            # One single-field index: FerretDB 1.24 panics (drops the connection) when Beanie
            # re-initialises a collection that has two indexes or a compound one.
            IndexModel("user_id"),
        ]


class AlertsProjection:
    """Maps ``ixo.alert.triggered.v1`` events to ``alerts`` rows (a redelivered or duplicated
    match keeps one document: the key is the deterministic ``match_id``)."""

    name: ClassVar[str] = "alerts"
    topic: ClassVar[Topic] = ALERT_MATCHES
    document: ClassVar[type[Document]] = Alert

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        out = []
        for item in items:
            data = item.event.data
            if not isinstance(data, AlertTriggeredV1):
                continue
            order = offset_order(item.partition, item.offset)
            doc = {
                **to_document(data),
                "_id": data.match_id,
                "event_id": item.event.id,
                "order": order,
            }
            doc["triggered_at"] = data.triggered_at.astimezone(UTC)
            out.append(Row(key=data.match_id, order=order, doc=doc))
        return out
