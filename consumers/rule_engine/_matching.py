"""The matching core: rule conditions, arming, re-arming and cooldown, as pure functions.

A rule is a :class:`RuleSpec` (its definition at one version) plus a :class:`RuleState`. For each
tick, :func:`step` maps ``(spec, state, tick context)`` to the new state and, when the rule fires,
a :class:`Match`. The live engine, the backtest and the benchmark's naive evaluator all call this
same function; they differ only in which rules they hand it (see ``_index.py``).

Semantics (docs/decisions/0040-rule-engine-semantics.md):

- ``above`` fires when price >= threshold, ``below`` when price <= threshold (inclusive);
- ``crosses_above`` when previous < threshold <= price, ``crosses_below`` when
  previous > threshold >= price (previous: the symbol's previous tick as the engine saw it);
- ``pct_change`` over ``window_s``: change = (price - reference) / reference * 100, reference =
  the oldest price in the window; a positive threshold fires when change >= threshold, a negative
  one when change <= threshold;
- after firing, a rule with ``repeat=false`` is done (until the rule is updated); with
  ``repeat=true`` it waits until the condition is false again (price back across the threshold),
  and it never fires twice within ``cooldown_s`` of tick time.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from schemas import (
    AlertRuleCreatedV1,
    AlertRuleUpdatedV1,
    AlertTriggeredV1,
    Condition,
    ConditionKind,
    MarketTickV1,
    decimal_str,
)

Phase = Literal["armed", "waiting", "cooling", "done"]
"""``armed``: fires when its condition holds; ``waiting``: fired, waits for the price to move
back; ``cooling``: re-armed but inside its cooldown; ``done``: fired once, ``repeat=false``."""

ARMED: Final = "armed"
WAITING: Final = "waiting"
COOLING: Final = "cooling"
DONE: Final = "done"

MATCH_NAMESPACE = uuid.UUID("6f1d3c1e-4b7a-5d0e-9a51-2c7e8f3b9a10")
"""uuid5 namespace of ``match_id`` (never change it: downstream dedupes by match_id)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


def to_ms(ts: datetime) -> int:
    """An aware datetime as integer milliseconds since the epoch (exact, no float)."""
    return (ts - EPOCH) // ONE_MS


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


_NS = MATCH_NAMESPACE.bytes


def match_id(rule_id: str, tick_id: str) -> str:
    """The deterministic id of the match of ``rule_id`` on the tick event ``tick_id``:
    ``uuid5(MATCH_NAMESPACE, f"{rule_id}|{tick_id}")`` (computed without building a UUID)."""
    digest = bytearray(
        hashlib.sha1(_NS + f"{rule_id}|{tick_id}".encode(), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


RulePayload = AlertRuleCreatedV1 | AlertRuleUpdatedV1


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule's definition at one version (``version`` 0 is a draft that was never saved)."""

    rule_id: str
    user_id: str
    symbol: str
    condition: Condition
    cooldown_ms: int
    repeat: bool
    version: int
    score: str = field(default="", compare=False)
    """The threshold as a normalised decimal string (the index score); derived."""

    def __post_init__(self) -> None:
        if not self.score:
            object.__setattr__(self, "score", decimal_str(self.condition.threshold))

    @property
    def kind(self) -> ConditionKind:
        return self.condition.kind

    @property
    def threshold(self) -> Decimal:
        return self.condition.threshold

    @property
    def window_s(self) -> int | None:
        return self.condition.window_s

    @classmethod
    def of(cls, rule: RulePayload, version: int = 0) -> RuleSpec:
        return cls(
            rule_id=rule.rule_id,
            user_id=rule.user_id,
            symbol=rule.symbol,
            condition=rule.condition,
            cooldown_ms=rule.cooldown_s * 1000,
            repeat=rule.repeat,
            version=version,
        )


@dataclass(frozen=True, slots=True)
class RuleState:
    """Where a rule is in its cycle. ``until_ms``: end of the cooldown (tick time)."""

    phase: Phase = ARMED
    until_ms: int = 0
    last_fired_ms: int | None = None


FRESH = RuleState()
"""The state of a rule just created or updated: armed, no cooldown."""


@dataclass(frozen=True, slots=True)
class TickPoint:
    """A tick and where it sits in Kafka, reduced to what matching needs."""

    event_id: str
    symbol: str
    price: Decimal
    ts: datetime
    ts_ms: int
    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, item: Any) -> TickPoint:
        """From a positioned ``ixo.market.tick.v1`` event (a ``Delivery`` or the like)."""
        tick: MarketTickV1 = item.event.data
        return cls(
            item.event.id,
            tick.symbol,
            tick.price,
            tick.ts,
            to_ms(tick.ts),
            item.topic,
            item.partition,
            item.offset,
        )


@dataclass(frozen=True, slots=True)
class TickContext:
    """What a rule sees of one tick: its price, the previous price of the symbol, and for every
    pct_change window in use the change against the window's reference price."""

    tick: TickPoint
    previous: Decimal | None
    changes: Mapping[int, Decimal]
    references: Mapping[int, tuple[int, Decimal]]

    @property
    def price(self) -> Decimal:
        return self.tick.price

    @property
    def ts_ms(self) -> int:
        return self.tick.ts_ms


@dataclass(frozen=True, slots=True)
class Match:
    """A rule fired on a tick: everything needed to explain it."""

    spec: RuleSpec
    ctx: TickContext

    @property
    def match_id(self) -> str:
        return match_id(self.spec.rule_id, self.ctx.tick.event_id)

    def alert(self) -> AlertTriggeredV1:
        """The ``ixo.alert.triggered.v1`` payload of this match."""
        spec, ctx, tick = self.spec, self.ctx, self.ctx.tick
        extra: dict[str, Any] = {}
        if spec.kind in ("crosses_above", "crosses_below"):
            extra["previous_price"] = ctx.previous
        elif spec.kind == "pct_change" and spec.window_s is not None:
            ref_ms, ref_price = ctx.references[spec.window_s]
            extra["reference_price"] = ref_price
            extra["reference_time"] = from_ms(ref_ms)
            extra["change_pct"] = ctx.changes[spec.window_s]
        return AlertTriggeredV1(
            match_id=self.match_id,
            rule_id=spec.rule_id,
            user_id=spec.user_id,
            symbol=spec.symbol,
            price=tick.price,
            condition=spec.condition,
            tick_id=tick.event_id,
            triggered_at=tick.ts,
            rule_version=spec.version,
            tick_topic=tick.topic,
            tick_partition=tick.partition,
            tick_offset=tick.offset,
            **extra,
        )

    def reason(self) -> str:
        """One sentence saying why the rule fired."""
        return explain(self.alert())


def explain(alert: AlertTriggeredV1) -> str:
    """Why an alert fired, in one sentence, from the fields the alert carries."""
    cond = alert.condition
    price, threshold = decimal_str(alert.price), decimal_str(cond.threshold)
    where = f"{alert.tick_topic}[{alert.tick_partition}]@{alert.tick_offset}"
    head = f"{alert.symbol} tick {where} at {alert.triggered_at.isoformat()}"
    version = f"rule {alert.rule_id} v{alert.rule_version}"
    if cond.kind == "above":
        why = f"price {price} >= {threshold}"
    elif cond.kind == "below":
        why = f"price {price} <= {threshold}"
    elif cond.kind in ("crosses_above", "crosses_below"):
        prev = decimal_str(alert.previous_price) if alert.previous_price is not None else "?"
        if cond.kind == "crosses_above":
            why = f"previous price {prev} < {threshold} <= price {price}"
        else:
            why = f"previous price {prev} > {threshold} >= price {price}"
    else:
        ref = decimal_str(alert.reference_price) if alert.reference_price is not None else "?"
        change = alert.change_pct if alert.change_pct is not None else Decimal(0)
        at = alert.reference_time.isoformat() if alert.reference_time else "?"
        op = ">=" if cond.threshold > 0 else "<="
        why = (
            f"change {change:.4f}% over {cond.window_s}s (from {ref} at {at} to {price}) "
            f"{op} {threshold}%"
        )
    return f"{version}: {why} ({head})"


def fires(spec: RuleSpec, ctx: TickContext) -> bool:
    """Does the rule's condition hold on this tick?"""
    kind = spec.condition.kind
    threshold = spec.condition.threshold
    price = ctx.tick.price
    if kind == "above":
        return price >= threshold
    if kind == "below":
        return price <= threshold
    if kind == "crosses_above":
        prev = ctx.previous
        return prev is not None and prev < threshold <= price
    if kind == "crosses_below":
        prev = ctx.previous
        return prev is not None and prev > threshold >= price
    change = ctx.changes.get(spec.condition.window_s or 0)
    if change is None:
        return False
    return change >= threshold if threshold > 0 else change <= threshold


def rearms(spec: RuleSpec, ctx: TickContext) -> bool:
    """Has the price moved back across the threshold (the condition is false again)?"""
    kind = spec.condition.kind
    threshold = spec.condition.threshold
    if kind in ("above", "crosses_above"):
        return ctx.tick.price < threshold
    if kind in ("below", "crosses_below"):
        return ctx.tick.price > threshold
    change = ctx.changes.get(spec.condition.window_s or 0)
    if change is None:
        return False
    return change < threshold if threshold > 0 else change > threshold


def step(  # noqa: PLR0911 - one return per transition is the clearest form
    spec: RuleSpec, state: RuleState, ctx: TickContext
) -> tuple[RuleState, Match | None]:
    """One rule, one tick: the new state (the same object when nothing changed) and the match.

    Order within a tick: a cooldown that has ended re-arms; a waiting rule whose condition is
    false again re-arms (or starts cooling if its cooldown has not ended); an armed rule whose
    condition holds fires.
    """
    phase = state.phase
    if phase == DONE:
        return state, None
    ts = ctx.tick.ts_ms
    if phase == COOLING:
        if ts < state.until_ms:
            return state, None
        state = RuleState(ARMED, state.until_ms, state.last_fired_ms)
    elif phase == WAITING:
        if not rearms(spec, ctx):
            return state, None
        if ts < state.until_ms:
            return RuleState(COOLING, state.until_ms, state.last_fired_ms), None
        # The condition is false on this very tick: the rule is armed and cannot fire now.
        return RuleState(ARMED, state.until_ms, state.last_fired_ms), None
    if not fires(spec, ctx):
        return state, None
    after = RuleState(WAITING if spec.repeat else DONE, ts + spec.cooldown_ms, ts)
    return after, Match(spec, ctx)
