"""The agent's seams: the ports its tools and runs depend on (implemented by the wiring layer),
the store strategies, the model Protocol and shared aliases.

Ports are small on purpose: the orchestrator consumer implements them over Kafka and the read
models; tests implement them in a few lines. Every method that has a side effect is idempotent
for a given idempotency key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from agent._errors import ToolError
from agent._messages import Message, ModelReply
from agent._state import AgentState
from schemas import AlertRuleCreatedV1, Channel, Condition, ToolCall

ToolSpec = Mapping[str, Any]
"""One entry of the Chat Completions ``tools`` list: ``{"type": "function", "function": ...}``."""

DeltaCallback = Callable[[str], Awaitable[None]]
"""Receives each text delta of a streamed model answer, as it arrives."""


class PricePort(Protocol):
    """Latest prices (the ``prices`` read model)."""

    async def get_price(self, symbol: str) -> tuple[Decimal, datetime] | None:
        """The latest price of ``symbol`` (e.g. ``BTCUSDT``) and its exchange time, if known."""
        ...


class RuleView(BaseModel):
    """An alert rule as the ``rules`` read model shows it to its owner."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    rule_id: str
    symbol: str
    condition: Condition
    channels: tuple[Channel, ...] = ()
    cooldown_s: int = 0
    repeat: bool = False
    status: str | None = None


class RulesPort(Protocol):
    """Alert rules: writes publish rule events; reads come from the ``rules`` projection."""

    async def create_rule(
        self, rule: AlertRuleCreatedV1, idempotency_key: str
    ) -> AlertRuleCreatedV1:
        """Publish ``ixo.alert.rule.created.v1`` for ``rule``.

        ``rule.rule_id`` is derived from the idempotency key, so a repeated call publishes the
        same rule again (the topic is compacted by rule id and the projection upserts): never a
        second rule. Returns the rule as stored (the implementation may fill default channels).
        """
        ...

    async def list_rules(self, user_id: str) -> Sequence[RuleView]:
        """The user's rules that are not deleted."""
        ...

    async def delete_rule(self, user_id: str, rule_id: str) -> bool:
        """Publish ``ixo.alert.rule.deleted.v1``; False when the user has no such rule."""
        ...


class AlertView(BaseModel):
    """A fired alert (one rule match) as the ``alerts`` read model shows it to its owner."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    match_id: str
    rule_id: str
    symbol: str
    price: str
    triggered_at: datetime


class AlertsPort(Protocol):
    """Fired alerts: reads come from the ``alerts`` projection."""

    async def recent_alerts(self, user_id: str, limit: int) -> Sequence[AlertView]:
        """The user's latest ``limit`` rule matches, newest first."""
        ...


class KnowledgeHitView(BaseModel):
    """A passage the knowledge search found: a post, or one chunk of a document, with how an
    answer cites it (``citation``: the post's URL, or the document id and chunk)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    doc_id: str
    chunk: int = 0
    text: str
    score: float
    source: Literal["post", "document"]
    citation: str
    url: str | None = None
    title: str | None = None
    symbols: tuple[str, ...] = ()
    created_at: datetime | None = None


class PostView(BaseModel):
    """A scraped social post as the ``posts`` read model shows it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    post_id: str
    author: str
    text: str
    url: str
    created_at: datetime
    symbols: tuple[str, ...] = ()


class KnowledgePort(Protocol):
    """The knowledge base: dense search over posts and documents, and the ``posts`` read model.
    Read only; wired as ``Ports(extras={"knowledge": ...})``."""

    async def search(
        self,
        user_id: str,
        query: str,
        *,
        k: int,
        source: Literal["post", "document"] | None = None,
        since: datetime | None = None,
        symbol: str | None = None,
    ) -> Sequence[KnowledgeHitView]:
        """The ``k`` passages nearest ``query`` that ``user_id`` may read (posts, and their own
        documents only), best first."""
        ...

    async def recent_posts(
        self, symbol_or_query: str, *, since: datetime | None = None, limit: int
    ) -> Sequence[PostView]:
        """The latest posts tagged with a symbol or containing the words, newest first."""
        ...


class OnchainAlertView(BaseModel):
    """An alert registered on chain (AlertRegistry) and the rule made for it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    alert_id: int
    rule_id: str
    chain_id: int
    registry: str
    tx_hash: str
    block_number: int
    symbol: str
    condition: str
    threshold: Decimal


class ChainLogView(BaseModel):
    """A smart-contract log as the ``chain_logs`` read model shows it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    chain_id: int
    address: str
    block_number: int
    tx_hash: str
    log_index: int
    event: str
    args: dict[str, Any] = {}
    removed: bool = False
    block_time: datetime | None = None


class ChainPort(Protocol):
    """The chain: on-chain alerts sent from the platform's wallet (idempotent per key) and the
    ``chain_logs`` read model. Wired as ``Ports(extras={"chain": ...})``."""

    async def register_alert(
        self,
        user_id: str,
        symbol: str,
        condition: str,
        threshold: Decimal,
        idempotency_key: str,
    ) -> OnchainAlertView:
        """Register the alert on chain (one transaction per ``idempotency_key``) and make the
        user's rule for it; a ``ToolError`` when the chain refuses or is not configured."""
        ...

    async def events(
        self, address: str, *, event: str | None, since_block: int | None, limit: int
    ) -> Sequence[ChainLogView]:
        """A contract's observed logs, newest block first (reorged-out ones left out)."""
        ...


class ResponseSink(Protocol):
    """Where a run's output goes, in order; each call returns once the output is durable."""

    async def delta(self, text: str, seq: int) -> None:
        """A piece of the answer. ``seq`` numbers the deltas of a request from 0; a resumed run
        streams the interrupted step again from the ``seq`` of its checkpoint."""
        ...

    async def tool_called(self, call: ToolCall) -> None:
        """A tool call finished (with its result or error)."""
        ...

    async def completed(self, text: str, tool_calls: Sequence[ToolCall]) -> None:
        """The final answer and every tool call made for it."""
        ...


class CheckpointStore(Protocol):
    """Agent run state per request id (Strategy: Redis by default, MongoDB, memory)."""

    async def load(self, request_id: str) -> AgentState | None:
        """The last checkpoint of the request, or None."""
        ...

    async def save(self, state: AgentState) -> bool:
        """Store ``state`` unless a checkpoint with the same or a later ``step`` exists
        (compare-and-set); returns whether it was stored."""
        ...

    async def delete(self, request_id: str) -> None: ...


class ToolResultCache(Protocol):
    """Tool results by key, with a time to live (Strategy: Redis by default, MongoDB, memory)."""

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str, ttl_s: int) -> None: ...


class ChatModel(Protocol):
    """A chat model that streams text and may ask for tool calls."""

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        """One round: stream text deltas through ``on_delta``; return text and tool calls."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Ports:
    """The ports a run's tools may use. ``extras`` holds the ports of tools added later
    (knowledge search, chain...), by name. ``alerts`` is optional: without it ``list_alerts``
    lists rules only."""

    prices: PricePort | None = None
    rules: RulesPort | None = None
    alerts: AlertsPort | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def price_port(self) -> PricePort:
        if self.prices is None:
            msg = "prices are not available here"
            raise ToolError(msg)
        return self.prices

    def rules_port(self) -> RulesPort:
        if self.rules is None:
            msg = "alert rules are not available here"
            raise ToolError(msg)
        return self.rules

    def extra(self, name: str) -> Any:
        """The extra port called ``name``; a :class:`ToolError` if it is not wired."""
        try:
            return self.extras[name]
        except KeyError:
            msg = f"{name} is not available here"
            raise ToolError(msg) from None
