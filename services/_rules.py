"""Rules: a user's request to create, change or delete an alert rule becomes an event on the
compacted ``ixo.alerts.rules`` topic; listings and backtests of saved rules read the ``rules``
read model (never the rule engine's working state)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from consumers.rule_engine import BacktestMatch, RulePayload, TickHistory, backtest_range
from readmodels import ReadModels, Rule
from schemas import (
    ALERT_RULES,
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AnyEvent,
    Channel,
    Condition,
    Id,
    Symbol,
    new_event_id,
)
from services._chats import Chat, check_own_chats
from services._commands import Commands, NotFound, Publisher, Receipt, parse_input
from services._symbols import NormalisedSymbol, feed_warning


class RuleDraft(BaseModel):
    """What a user asks for; ``rule_id`` is chosen for them when absent. The symbol is
    normalised (``BTC`` -> ``BTCUSDT``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: Id
    symbol: Annotated[Symbol, NormalisedSymbol]
    condition: Condition
    channels: tuple[Channel, ...] = ()
    cooldown_s: int = Field(default=0, ge=0, le=7 * 24 * 3600)
    repeat: bool = False
    rule_id: Id | None = None

    def payload(self, rule_id: str = "draft") -> AlertRuleCreatedV1:
        return AlertRuleCreatedV1.model_validate(
            {**self.model_dump(exclude={"rule_id"}), "rule_id": rule_id}
        )


class RuleNotFound(NotFound):
    """No live rule with that id (for that user)."""


def parse_draft(data: Any) -> RuleDraft:
    """Validate loose input (CLI, bot, tool) into a draft; :class:`InvalidEvent` names the field."""
    return parse_input(RuleDraft, data)


def rule_view(rule: Rule) -> dict[str, Any]:
    """The public view of a saved rule (JSON-ready)."""
    view: dict[str, Any] = rule.model_dump(mode="json", exclude={"order", "id", "deleted"})
    return view


def saved_payload(rule: Rule) -> AlertRuleCreatedV1:
    """A saved rule's definition as the event that defines it."""
    return AlertRuleCreatedV1.model_validate(
        {
            "rule_id": rule.rule_id,
            "user_id": rule.user_id,
            "symbol": rule.symbol,
            "condition": rule.condition,
            "channels": rule.channels,
            "cooldown_s": rule.cooldown_s,
            "repeat": rule.repeat,
        }
    )


DeliverableKinds = Collection[str]


class RuleService:
    """Every rule command and query, for every client."""

    def __init__(
        self,
        publisher: Publisher,
        reads: ReadModels,
        *,
        source: str,
        history: TickHistory | None = None,
        deliverable: DeliverableKinds | None = None,
    ) -> None:
        self._commands = Commands(publisher, source=source, topic=ALERT_RULES, id_field="rule_id")
        self._reads = reads
        self._history = history
        self._deliverable = deliverable

    async def warnings(self, draft: RuleDraft, rule_id: str | None = None) -> tuple[str, ...]:
        """What the user should know about an accepted draft: a symbol without prices, a rule
        that duplicates one of theirs, a channel nobody delivers to."""
        out: list[str] = []
        if (missing := await feed_warning(self._reads, draft.symbol)) is not None:
            out.append(missing)
        wanted = draft.payload().condition
        for rule in await self._reads.rules(draft.user_id):
            same = rule.symbol == draft.symbol and saved_payload(rule).condition == wanted
            if same and rule.rule_id != rule_id:
                out.append(f"rule {rule.rule_id} already alerts on {draft.symbol} the same way")
        if self._deliverable is not None:
            for channel in draft.channels:
                if channel.kind not in self._deliverable:
                    out.append(f"no {channel.kind} bot is configured: that channel gets nothing")
        return tuple(out)

    async def save(
        self,
        draft: RuleDraft,
        *,
        correlation_id: str | None = None,
        event_id: str | None = None,
        causation: AnyEvent | None = None,
        trusted_chats: Collection[Chat] | None = (),
    ) -> Receipt:
        """Create the rule, or update it when ``rule_id`` names a live rule of that user.

        A Telegram or Discord channel must be a chat linked to the user, or among
        ``trusted_chats`` (a bot's origin chat); ``None`` trusts every chat (the operator's CLI).

        ``event_id`` makes a retried command publish the same event (derive it from the
        caller's own request id, e.g. a bot's update id or a tool call's idempotency key)."""
        await check_own_chats(
            self._reads,
            draft.user_id,
            ((c.kind, c.target) for c in draft.channels),
            trusted=trusted_chats,
            field="channels",
        )
        rule_id = draft.rule_id or new_event_id()
        existing = await self.get(rule_id) if draft.rule_id else None
        if existing is not None and existing.user_id != draft.user_id:
            msg = f"rule {rule_id} belongs to another user"
            raise RuleNotFound(msg)
        kind = AlertRuleUpdatedV1 if existing is not None else AlertRuleCreatedV1
        data = kind.model_validate({**draft.model_dump(exclude={"rule_id"}), "rule_id": rule_id})
        return await self._commands.publish(
            data,
            correlation_id=correlation_id,
            event_id=event_id,
            causation=causation,
            warnings=await self.warnings(draft, rule_id),
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
        return await self._commands.publish(data, correlation_id=correlation_id, event_id=event_id)

    async def backtest(
        self,
        rule: RuleDraft | str,
        *,
        since: datetime,
        until: datetime | None = None,
        user_id: str | None = None,
    ) -> list[BacktestMatch]:
        """When a draft, or the saved rule with that id (of ``user_id`` if given), would have
        fired over the tick history between ``since`` and ``until``, and why: the live engine's
        matching code, from a fresh state; nothing is published."""
        if self._history is None:
            msg = "this service has no tick history to backtest on"
            raise RuntimeError(msg)
        payload: RulePayload
        if isinstance(rule, str):
            saved = await self.get(rule)
            if saved is None or (user_id is not None and saved.user_id != user_id):
                msg = f"no saved rule {rule}" + (f" for user {user_id}" if user_id else "")
                raise RuleNotFound(msg)
            payload = saved_payload(saved)
        else:
            payload = rule.payload()
        return await backtest_range(self._history, payload, since=since, until=until)

    async def get(self, rule_id: str) -> Rule | None:
        rule = await self._reads.rule(rule_id)
        return None if rule is None or rule.deleted else rule

    async def list(self, user_id: str | None = None) -> list[Rule]:
        return await self._reads.rules(user_id)
