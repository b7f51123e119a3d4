"""Backtest: run one rule (saved or draft) over past ticks with the live engine's matching code,
and report when it would have fired and why, without publishing anything.

:func:`backtest` takes any iterable of positioned ticks; :func:`backtest_range` reads them for
a time range from a :class:`TickHistory` (``infra.kafka.KafkaTickHistory`` reads the ticks topic;
``services.RuleService.backtest`` and ``consumers.rule_engine.app.backtest_history`` use it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from pydantic import BaseModel, ConfigDict

from consumers.rule_engine._book import Book
from consumers.rule_engine._matching import (
    FRESH,
    RulePayload,
    RuleSpec,
    TickPoint,
    explain,
    to_ms,
)
from consumers.rule_engine._tape import Tape
from consumers.rule_engine._types import Positioned, TickHistory
from schemas import AlertTriggeredV1, AnyEvent

WARMUP_S: Final = 300
"""Ticks read before ``since`` to learn the previous price (crossings) when the rule has no
longer pct_change window."""


class BacktestMatch(BaseModel):
    """When the rule would have fired, the alert it would have published, and why."""

    model_config = ConfigDict(frozen=True)

    alert: AlertTriggeredV1
    reason: str


@dataclass(frozen=True, slots=True)
class TickRecord:
    """A tick read from Kafka and where it was (satisfies :class:`Positioned`)."""

    event: AnyEvent
    topic: str
    partition: int
    offset: int


async def _each(
    ticks: Iterable[Positioned] | AsyncIterable[Positioned],
) -> AsyncIterator[Positioned]:
    if isinstance(ticks, AsyncIterable):
        async for item in ticks:
            yield item
    else:
        for item in ticks:
            yield item


async def backtest(
    rule: RulePayload | RuleSpec,
    ticks: Iterable[Positioned] | AsyncIterable[Positioned],
    *,
    rule_version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[BacktestMatch]:
    """Run ``rule`` over ``ticks`` (in topic order) from a fresh, armed state.

    Ticks of other symbols are skipped, and ticks after ``until`` (exchange time). Ticks before
    ``since`` (exchange time) only warm up the symbol's previous price and pct_change history;
    the rule sees the ones from ``since`` on. ``rule_version`` defaults to the spec's version,
    or 0 (a draft) for a payload.
    """
    spec = rule if isinstance(rule, RuleSpec) else RuleSpec.of(rule)
    if rule_version is not None:
        spec = dataclasses.replace(spec, version=rule_version)
    tape = Tape(spec.symbol, (spec.window_s,) if spec.window_s else ())
    book = Book(tape, [(spec, FRESH)])
    start_ms = to_ms(since) if since is not None else None
    end_ms = to_ms(until) if until is not None else None
    out: list[BacktestMatch] = []
    async for item in _each(ticks):
        if item.event.subject != spec.symbol:
            continue
        tick = TickPoint.of(item)
        if end_ms is not None and tick.ts_ms > end_ms:
            continue
        if start_ms is not None and tick.ts_ms < start_ms:
            tape.advance(tick)
            continue
        for match in book.apply(tick):
            alert = match.alert()
            out.append(BacktestMatch(alert=alert, reason=explain(alert)))
    return out


def backtest_warmup(spec: RuleSpec) -> timedelta:
    """How long before ``since`` to read ticks: the rule's pct_change window, at least
    :data:`WARMUP_S` (the previous price for crossings)."""
    return timedelta(seconds=max(WARMUP_S, spec.window_s or 0))


async def backtest_range(
    history: TickHistory,
    rule: RulePayload | RuleSpec,
    *,
    since: datetime,
    until: datetime | None = None,
    rule_version: int | None = None,
) -> list[BacktestMatch]:
    """Backtest ``rule`` over the ticks of its symbol in ``history`` between ``since`` and
    ``until`` (exchange time). Reads ``window_s`` (at least :data:`WARMUP_S`) before ``since``
    to warm up the previous price and the pct_change history."""
    spec = rule if isinstance(rule, RuleSpec) else RuleSpec.of(rule)
    ticks = history.ticks(spec.symbol, since=since - backtest_warmup(spec), until=until)
    return await backtest(spec, ticks, rule_version=rule_version, since=since, until=until)
