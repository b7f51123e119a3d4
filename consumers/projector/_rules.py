"""The ``rules`` projection: the current definition of every alert rule (deleted ones kept as
tombstones so a late, older event cannot resurrect them)."""

from __future__ import annotations

from typing import Any, ClassVar

from consumers.projector._documents import to_document
from consumers.projector._entities import EntityProjection
from readmodels import ReadModel, Rule
from schemas import (
    ALERT_RULES,
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AnyEvent,
    EventData,
    Topic,
)


class RulesProjection(EntityProjection):
    """Maps ``ixo.alert.rule.*`` events to ``rules`` rows."""

    name: ClassVar[str] = "rules"
    topic: ClassVar[Topic] = ALERT_RULES
    document: ClassVar[type[ReadModel]] = Rule
    key_field: ClassVar[str] = "rule_id"
    alive: ClassVar[tuple[type[EventData], ...]] = (AlertRuleCreatedV1, AlertRuleUpdatedV1)
    dead: ClassVar[tuple[type[EventData], ...]] = (AlertRuleDeletedV1,)

    def live_doc(self, event: AnyEvent, data: AlertRuleCreatedV1) -> dict[str, Any]:
        doc: dict[str, Any] = to_document(data)
        return {**doc, "event_type": event.type}

    def tombstone_doc(self, event: AnyEvent, data: AlertRuleDeletedV1) -> dict[str, Any]:
        return {
            "user_id": data.user_id,
            "symbol": data.symbol,
            "condition": None,
            "channels": [],
            "cooldown_s": 0,
            "repeat": False,
            "event_type": event.type,
        }
