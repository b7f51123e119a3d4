"""Projections of entities that live and die by events (rules, schedules, subscriptions): one
row per entity, its last event wins (by offset: the topic is keyed by the entity), and a deleted
entity stays as a tombstone so a late, older event cannot resurrect it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any, ClassVar

from consumers.projector._documents import offset_order
from consumers.projector._rows import Positioned, Row
from readmodels import ReadModel
from schemas import AnyEvent, EventData, Topic


class EntityProjection:
    """Subclasses name the topic, the read model, the key field, which payloads make an entity
    live (``alive``) and which delete it (``dead``), and the document of each."""

    name: ClassVar[str]
    topic: ClassVar[Topic]
    document: ClassVar[type[ReadModel]]
    key_field: ClassVar[str]
    alive: ClassVar[tuple[type[EventData], ...]]
    dead: ClassVar[tuple[type[EventData], ...]]

    def live_doc(self, event: AnyEvent, data: Any) -> dict[str, Any]:
        raise NotImplementedError

    def tombstone_doc(self, event: AnyEvent, data: Any) -> dict[str, Any]:
        raise NotImplementedError

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        out = []
        for item in items:
            event, data = item.event, item.event.data
            if isinstance(data, self.alive):
                doc = {**self.live_doc(event, data), "deleted": False}
            elif isinstance(data, self.dead):
                doc = {**self.tombstone_doc(event, data), "deleted": True}
            else:
                continue
            key = str(getattr(data, self.key_field))
            order = offset_order(item.partition, item.offset)
            doc.update(
                {
                    "_id": key,
                    self.key_field: key,
                    "updated_at": event.time.astimezone(UTC),
                    "event_id": event.id,
                    "order": order,
                }
            )
            out.append(Row(key=key, order=order, doc=doc))
        return out
