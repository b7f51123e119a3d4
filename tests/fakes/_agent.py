"""Simple implementations of the agent's own ports (its response sink, rules and prices), for
tests that run the agent without Kafka or the read models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from agent import RuleView
from schemas import AlertRuleCreatedV1, ChatMessageReceivedV1, ToolCall, TransientError

PRICE_TIME = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
"""The exchange time :class:`FixedPrices` gives every price."""


class SinkCrashError(RuntimeError):
    """What a failing sink raises (a crashed publisher)."""


class RecordingSink:
    """A :class:`ResponseSink` that keeps what it is given; ``fail_on`` makes the first
    ``failures`` calls of that kind (``delta``, ``tool_called``, ``completed``) raise."""

    def __init__(self, fail_on: str | None = None, failures: int = 1) -> None:
        self.events: list[tuple[str, Any]] = []
        self.fail_on = fail_on
        self.failures = failures

    def _maybe_fail(self, kind: str) -> None:
        if self.fail_on == kind and self.failures > 0:
            self.failures -= 1
            msg = f"sink crashed on {kind}"
            raise SinkCrashError(msg)

    async def delta(self, text: str, seq: int) -> None:
        self._maybe_fail("delta")
        self.events.append(("delta", (seq, text)))

    async def tool_called(self, call: ToolCall) -> None:
        self._maybe_fail("tool_called")
        self.events.append(("tool_called", call))

    async def completed(self, text: str, tool_calls: Sequence[ToolCall]) -> None:
        self._maybe_fail("completed")
        self.events.append(("completed", (text, tuple(tool_calls))))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def deltas(self) -> list[tuple[int, str]]:
        return [value for kind, value in self.events if kind == "delta"]

    def text(self) -> str:
        return "".join(text for _, text in self.deltas())

    def tool_calls(self) -> list[ToolCall]:
        return [value for kind, value in self.events if kind == "tool_called"]

    def completions(self) -> list[tuple[str, tuple[ToolCall, ...]]]:
        return [value for kind, value in self.events if kind == "completed"]


class RecordingRules:
    """A :class:`RulesPort` over a dict, recording every call (rules keyed by rule id, as the
    compacted topic and the projection key them)."""

    def __init__(self, failures: int = 0) -> None:
        self.creates: list[tuple[AlertRuleCreatedV1, str]] = []
        self.deletes: list[tuple[str, str]] = []
        self.rules: dict[str, AlertRuleCreatedV1] = {}
        self.failures = failures

    async def create_rule(
        self, rule: AlertRuleCreatedV1, idempotency_key: str
    ) -> AlertRuleCreatedV1:
        if self.failures:
            self.failures -= 1
            msg = "broker down"
            raise TransientError(msg)
        self.creates.append((rule, idempotency_key))
        self.rules[rule.rule_id] = rule
        return rule

    async def list_rules(self, user_id: str) -> Sequence[RuleView]:
        return [
            RuleView.model_validate(r.model_dump())
            for r in self.rules.values()
            if r.user_id == user_id
        ]

    async def delete_rule(self, user_id: str, rule_id: str) -> bool:
        self.deletes.append((user_id, rule_id))
        rule = self.rules.get(rule_id)
        if rule is None or rule.user_id != user_id:
            return False
        del self.rules[rule_id]
        return True


class FixedPrices:
    """A :class:`PricePort` with fixed prices, counting lookups."""

    def __init__(self, prices: dict[str, str] | None = None, at: datetime = PRICE_TIME) -> None:
        self.at = at
        self.prices = {s: Decimal(p) for s, p in (prices or {"BTCUSDT": "64123.5"}).items()}
        self.lookups: list[str] = []

    async def get_price(self, symbol: str) -> tuple[Decimal, datetime] | None:
        self.lookups.append(symbol)
        price = self.prices.get(symbol)
        return None if price is None else (price, self.at)


def chat(text: str, *, user_id: str = "u1", session_id: str = "s1") -> ChatMessageReceivedV1:
    return ChatMessageReceivedV1(session_id=session_id, user_id=user_id, channel="cli", text=text)
