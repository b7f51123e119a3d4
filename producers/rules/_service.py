"""Rule commands: a user's request to create, change or delete an alert rule becomes an event on
the compacted ``ixo.alerts.rules`` topic. Nothing writes the ``rules`` read model directly: the
projector does, from these events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka.structs import RecordMetadata
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from consumers.projector import Rule
from infra.kafka import EventPublisher
from schemas import (
    ALERT_RULES,
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AnyEvent,
    Channel,
    CloudEvent,
    Condition,
    Id,
    InvalidEvent,
    IxoError,
    Symbol,
    explain,
    new_event_id,
)


class RuleDraft(BaseModel):
    """What a user asks for; ``rule_id`` is chosen for them when absent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: Id
    symbol: Symbol
    condition: Condition
    channels: tuple[Channel, ...] = ()
    cooldown_s: int = Field(default=0, ge=0, le=7 * 24 * 3600)
    repeat: bool = False
    rule_id: Id | None = None


class RuleNotFound(IxoError):  # noqa: N818
    """No live rule with that id (for that user)."""


@dataclass(frozen=True)
class Receipt:
    """Where a command's event landed."""

    event: AnyEvent
    topic: str
    partition: int
    offset: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": getattr(self.event.data, "rule_id", None),
            "event_id": self.event.id,
            "type": self.event.type,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }


def parse_draft(data: Any) -> RuleDraft:
    """Validate loose input (CLI, bot) into a draft; :class:`InvalidEvent` names the field."""
    try:
        return RuleDraft.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidEvent(explain(err), kind="invalid_event", field=field) from None


class RuleService:
    """Publishes rule events and reads the ``rules`` projection (Beanie must be initialised)."""

    def __init__(self, publisher: EventPublisher, *, source: str) -> None:
        self._publisher = publisher
        self._source = source

    async def _publish(self, event: AnyEvent) -> Receipt:
        meta: RecordMetadata = await self._publisher.publish(event, ALERT_RULES)
        return Receipt(event, meta.topic, meta.partition, meta.offset)

    async def save(
        self,
        draft: RuleDraft,
        *,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> Receipt:
        """Create the rule, or update it when ``rule_id`` names a live rule of that user.

        ``event_id`` makes a retried command publish the same event (derive it from the
        caller's own request id, e.g. a bot's update id)."""
        rule_id = draft.rule_id or new_event_id()
        fields = draft.model_dump(exclude={"rule_id"})
        existing = await self.get(rule_id) if draft.rule_id else None
        if existing is not None and existing.user_id != draft.user_id:
            msg = f"rule {rule_id} belongs to another user"
            raise RuleNotFound(msg)
        kind = AlertRuleUpdatedV1 if existing is not None else AlertRuleCreatedV1
        data = kind.model_validate({**fields, "rule_id": rule_id})
        return await self._publish(
            CloudEvent.new(
                data, source=self._source, correlation_id=correlation_id, event_id=event_id
            )
        )

    async def delete(
        self,
        rule_id: str,
        *,
        user_id: str | None = None,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> Receipt:
        rule = await self.get(rule_id)
        if rule is None or (user_id is not None and rule.user_id != user_id):
            msg = f"no rule {rule_id}" + (f" for user {user_id}" if user_id else "")
            raise RuleNotFound(msg)
        data = AlertRuleDeletedV1(rule_id=rule.rule_id, user_id=rule.user_id, symbol=rule.symbol)
        return await self._publish(
            CloudEvent.new(
                data, source=self._source, correlation_id=correlation_id, event_id=event_id
            )
        )

    async def get(self, rule_id: str) -> Rule | None:
        rule = await Rule.get(rule_id)
        return None if rule is None or rule.deleted else rule

    async def list(self, user_id: str | None = None) -> list[Rule]:
        query = Rule.find(Rule.deleted == False)  # noqa: E712 - a query expression
        if user_id is not None:
            query = query.find(Rule.user_id == user_id)
        return await query.sort(Rule.symbol, Rule.rule_id).to_list()
