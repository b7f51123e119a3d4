"""What every command shares: validating loose input into a draft, publishing one event, and
the receipt that says where it landed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from schemas import AnyEvent, CloudEvent, EventData, InvalidEvent, IxoError, Topic, explain

M = TypeVar("M", bound=BaseModel)


class NotFound(IxoError):  # noqa: N818
    """No such live entity (for that user): the gateway answers 404, the CLI exits 2."""


def parse_input(model: type[M], data: Any) -> M:
    """Validate loose input (CLI, bot, tool call) into ``model``; :class:`InvalidEvent` names the
    first field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        name = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidEvent(explain(err), kind="invalid_event", field=name) from None


class Written(Protocol):
    """Where the broker put a record (aiokafka's ``RecordMetadata`` satisfies this)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class Publisher(Protocol):
    """Publishes an event to a catalogue topic once Kafka acknowledged it
    (:class:`infra.kafka.EventPublisher`)."""

    async def publish(self, event: AnyEvent, topic: Topic) -> Written: ...


@dataclass(frozen=True)
class Receipt:
    """Where a command's event landed. ``id_field`` names the entity id in :meth:`as_dict`;
    ``secret`` is shown once (a new subscription's); ``warnings`` are for the user (the command
    was accepted, but e.g. the symbol has no price feed yet)."""

    event: AnyEvent
    topic: str
    partition: int
    offset: int
    id_field: str
    secret: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def entity_id(self) -> str | None:
        value = getattr(self.event.data, self.id_field, None)
        return None if value is None else str(value)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            self.id_field: self.entity_id,
            "event_id": self.event.id,
            "type": self.event.type,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }
        if self.secret is not None:
            out["secret"] = self.secret
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


class Commands:
    """Publishes the events of one kind of command from one source."""

    def __init__(self, publisher: Publisher, *, source: str, topic: Topic, id_field: str) -> None:
        self.publisher = publisher
        self.source = source
        self.topic = topic
        self.id_field = id_field

    async def publish(
        self,
        data: EventData,
        *,
        correlation_id: str | None = None,
        event_id: str | None = None,
        causation: AnyEvent | None = None,
        secret: str | None = None,
        warnings: tuple[str, ...] = (),
    ) -> Receipt:
        event = CloudEvent.new(
            data,
            source=self.source,
            correlation_id=correlation_id,
            event_id=event_id,
            causation=causation,
        )
        meta = await self.publisher.publish(event, self.topic)
        return Receipt(
            event,
            meta.topic,
            meta.partition,
            meta.offset,
            self.id_field,
            secret=secret,
            warnings=warnings,
        )
