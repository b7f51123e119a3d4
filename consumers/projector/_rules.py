"""The ``rules`` projection: the current definition of every alert rule (deleted ones kept as
tombstones so a late, older event cannot resurrect them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from beanie import Document
from pydantic import Field
from pymongo import IndexModel

from consumers.projector._documents import offset_order, to_document
from consumers.projector._rows import Positioned, Row
from schemas import (
    ALERT_RULES,
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    Topic,
)


class Rule(Document):
    """An alert rule as its last event left it. ``version`` counts the rule's events."""

    id: str = Field(description="The rule id")  # type: ignore[assignment]
    rule_id: str
    user_id: str
    symbol: str
    condition: dict[str, Any] | None = None
    channels: list[dict[str, Any]] = Field(default_factory=list)
    cooldown_s: int = 0
    repeat: bool = False
    deleted: bool = False
    updated_at: datetime
    event_id: str
    event_type: str
    order: str

    class Settings:
        name = "rules"
        indexes: ClassVar[list[IndexModel]] = [IndexModel("user_id")]


def rule_row(item: Positioned) -> Row | None:
    event = item.event
    data = event.data
    order = offset_order(item.partition, item.offset)
    base: dict[str, Any] = {
        "_id": data.rule_id,
        "updated_at": event.time.astimezone(UTC),
        "event_id": event.id,
        "event_type": event.type,
        "order": order,
    }
    if isinstance(data, AlertRuleCreatedV1 | AlertRuleUpdatedV1):
        doc = {**base, **to_document(data), "deleted": False}
    elif isinstance(data, AlertRuleDeletedV1):
        doc = {
            **base,
            "rule_id": data.rule_id,
            "user_id": data.user_id,
            "symbol": data.symbol,
            "deleted": True,
            "condition": None,
            "channels": [],
            "cooldown_s": 0,
            "repeat": False,
        }
    else:
        return None
    return Row(key=data.rule_id, order=order, doc=doc)


class RulesProjection:
    """Maps ``ixo.alert.rule.*`` events to ``rules`` rows."""

    name: ClassVar[str] = "rules"
    topic: ClassVar[Topic] = ALERT_RULES
    document: ClassVar[type[Document]] = Rule

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        return [row for item in items if (row := rule_row(item)) is not None]
