"""Shared types of the rule engine: what a positioned tick looks like, the seams (Protocols)
between the matching core and its adapters (the rule store, the alert publisher, the tick
history of the backtest) and the values that cross them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

from consumers.rule_engine._matching import RulePayload, RuleSpec, RuleState, TickContext, TickPoint
from consumers.rule_engine._tape import Tape
from schemas import AlertRuleDeletedV1, AlertTriggeredV1, AnyEvent, CloudEvent

AlertEvent = CloudEvent[AlertTriggeredV1]
"""An ``ixo.alert.triggered.v1`` event in its envelope."""

RuleEvent = RulePayload | AlertRuleDeletedV1
"""What a rule event carries: a rule created or updated, or a deletion."""

OK: Final = 1
"""A symbol's outcome was written."""
WATERMARK_MOVED: Final = 0
"""Not written: another engine processed the symbol since it was read."""
RULE_CHANGED: Final = -1
"""Not written: a rule event changed a rule the batch changed since it was read."""


class Positioned(Protocol):
    """An event and where it sits in Kafka (``infra.kafka.Delivery`` satisfies this)."""

    @property
    def event(self) -> AnyEvent: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


@dataclass(frozen=True, slots=True)
class OutgoingAlert:
    """An ``ixo.alert.triggered.v1`` record to publish: its ids, key (the user) and the encoded
    event, as kept in the outbox."""

    match_id: str
    event_id: str
    key: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class RuleChange:
    """A rule event and where it sits on the rules topic (its offset orders versions)."""

    rule: RuleEvent
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Applied:
    """What became of a rule event: ``applied`` False means it was older than the stored rule."""

    rule_id: str
    applied: bool
    version: int


@dataclass(slots=True)
class Slice:
    """What a batch of ticks of one symbol can touch, as read from the store.

    ``contexts`` are the fresh ticks (after the watermark) already run through the tape;
    ``rules`` are the candidates with their states (at least every rule a tick of the batch can
    move); ``outbox`` the alerts left unpublished by an earlier attempt; ``watermark`` the
    (partition, offset) of the last tick applied, as stored (``("", "")`` before the first).
    """

    symbol: str
    tape: Tape
    contexts: list[TickContext]
    rules: list[tuple[RuleSpec, RuleState]]
    outbox: dict[str, bytes]
    watermark: tuple[str, str]


@dataclass(slots=True)
class SymbolCommit:
    """The outcome of running a slice: changed rule states and the alerts for the outbox.

    ``before`` holds the changed rules' states as read (where they sit in the index now)."""

    slice: Slice
    changed: list[tuple[RuleSpec, RuleState]] = field(default_factory=list)
    before: dict[str, RuleState] = field(default_factory=dict)
    alerts: list[tuple[str, bytes]] = field(default_factory=list)


class RuleStore(Protocol):
    """Rule definitions and states, each symbol's tape and watermark, and the alert outbox: the
    live engine's state, shared by every engine of a consumer group.

    Implementations: ``RedisRuleStore`` (production: any number of engines) and
    ``MemoryRuleStore`` (one process: tests, embedding). Raises :class:`schemas.TransientError`
    when the backing service is unavailable.
    """

    async def apply(self, changes: Sequence[RuleChange]) -> list[Applied]:
        """Apply rule events in order; an event not newer than the stored rule (same partition,
        offset at or below the stored one) is ignored. Each applied event bumps the rule's
        version and re-arms it; a deletion leaves a tombstone."""
        ...

    async def get_rule(self, rule_id: str) -> tuple[RuleSpec, RuleState] | None:
        """A rule as the engine holds it (its definition at its current version, its state);
        None if unknown or deleted."""
        ...

    async def load(self, batches: Mapping[str, Sequence[TickPoint]]) -> dict[str, Slice]:
        """Read, for each symbol's ticks (in offset order), everything they can touch."""
        ...

    async def commit(self, commits: Sequence[SymbolCommit]) -> dict[str, int]:
        """Write each symbol's outcome atomically if nothing it read has changed meanwhile;
        per symbol :data:`OK`, :data:`WATERMARK_MOVED` or :data:`RULE_CHANGED`."""
        ...

    async def ack(self, published: Mapping[str, Sequence[str]]) -> None:
        """Drop published alerts (by match_id) from each symbol's outbox."""
        ...

    async def outbox(self, symbol: str) -> dict[str, bytes]:
        """Alerts of ``symbol`` committed but not yet acknowledged as published."""
        ...


class AlertSink(Protocol):
    """Publishes alerts and returns once the broker acknowledged every one of them.

    Raises :class:`schemas.TransientError` when the broker is unavailable (the engine keeps the
    alerts in its outbox and publishes them again on the redelivery).
    """

    async def publish(self, alerts: Sequence[OutgoingAlert]) -> None: ...


class TickHistory(Protocol):
    """Past ticks, for the backtest (``infra.kafka.KafkaTickHistory`` reads the ticks topic)."""

    def ticks(
        self, symbol: str, *, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Positioned]:
        """The ``ixo.market.tick.v1`` events of ``symbol`` recorded from ``since`` up to
        ``until`` (default: now), in topic order. An implementation may yield a little more on
        either side (the backtest filters by exchange time) and other symbols' ticks (skipped);
        records that are not valid ticks are left out."""
        ...
