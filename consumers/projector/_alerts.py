"""The ``alerts`` projection: every rule match, once per ``match_id``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import ClassVar

from consumers.projector._documents import offset_order, to_document
from consumers.projector._rows import Positioned, Row
from readmodels import Alert, ReadModel
from schemas import ALERT_MATCHES, AlertTriggeredV1, Topic


class AlertsProjection:
    """Maps ``ixo.alert.triggered.v1`` events to ``alerts`` rows (a redelivered or duplicated
    match keeps one document: the key is the deterministic ``match_id``)."""

    name: ClassVar[str] = "alerts"
    topic: ClassVar[Topic] = ALERT_MATCHES
    document: ClassVar[type[ReadModel]] = Alert

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
