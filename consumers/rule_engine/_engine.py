"""The live engine: rule events into the index, tick batches into alerts, exactly once per
(rule, tick) even with redelivery, crashes and several engines in one consumer group.

For a batch of ticks: group by symbol; read each symbol's slice (``RuleStore.load``); run
the fresh ticks through a :class:`Book` of the candidate rules (the pure core); commit each
symbol's new rule states, watermark and alerts (into its outbox) atomically, compare-and-set on
what was read; then publish the outbox, wait for the broker's acks, and drop what was
published. Only then does the handler return and the consumer commit offsets.

- A redelivered tick is at or below its symbol's watermark: it changes nothing and fires
  nothing; alerts a crash left in the outbox are published on that redelivery.
- A store failure between the publish and the outbox cleanup (Redis restarting) does not publish
  again: the process remembers what the broker acknowledged and the retried batch only cleans
  up. A crash of the process in that window publishes the same event again (same event id, same
  ``match_id``): downstream deduplicates by ``match_id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from consumers.rule_engine._book import Book
from consumers.rule_engine._encoding import encode_alert, outgoing, rfc3339
from consumers.rule_engine._matching import TickPoint
from consumers.rule_engine._types import (
    OK,
    AlertSink,
    OutgoingAlert,
    Positioned,
    RuleChange,
    RuleStore,
    Slice,
    SymbolCommit,
)
from schemas import (
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AnyEvent,
    TransientError,
    utc_now,
)

log = logging.getLogger(__name__)

SOURCE: Final = "/consumers/rule-engine"
MAX_ATTEMPTS: Final = 20
CONFLICT_BACKOFF_S: Final = 0.01
LANE_MIN_TICKS: Final = 200
"""A lane costs four store calls (Redis round trips): small batches (no backlog) run in fewer
lanes."""


@dataclass(slots=True)
class _Lane:
    alerts: list[OutgoingAlert] = field(default_factory=list)
    published: dict[str, list[str]] = field(default_factory=dict)
    applied: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class TickOutcome:
    """What one tick batch did: ticks applied (not redelivered ones) and alerts published."""

    ticks: int
    alerts: int
    retries: int


class RuleEngine:
    """Handlers for the rules topic and the ticks topic (wired by ``app.py``), over any
    :class:`RuleStore` (Redis in production, memory in tests and embeddings)."""

    def __init__(
        self, store: RuleStore, sink: AlertSink, *, source: str = SOURCE, lanes: int = 4
    ) -> None:
        self.store = store
        self.sink = sink
        self.source = source
        self.lanes = lanes
        self._on_broker: set[str] = set()
        """Match ids this process published (the broker acknowledged them) whose outbox cleanup
        has not succeeded yet (the store failed, e.g. Redis restarting): a retry of the batch
        cleans them up without publishing them again. Emptied by every successful cleanup."""

    async def on_rules(self, batch: Sequence[Positioned]) -> None:
        """Apply rule events (created, updated, deleted) in offset order."""
        changes = []
        for item in batch:
            data = item.event.data
            if isinstance(data, AlertRuleCreatedV1 | AlertRuleUpdatedV1 | AlertRuleDeletedV1):
                changes.append(RuleChange(data, item.partition, item.offset))
        for applied in await self.store.apply(changes):
            log.debug(
                "rule event %s",
                "applied" if applied.applied else "older than stored, ignored",
                extra={"rule_id": applied.rule_id, "version": applied.version},
            )

    async def on_ticks(self, batch: Sequence[Positioned]) -> TickOutcome:
        """Match a batch of ticks; returns once every alert it produced is on the broker.

        The batch's symbols are split into up to :attr:`lanes` groups that run concurrently,
        so Redis works on one group while Python matches another.
        """
        by_symbol: dict[str, list[TickPoint]] = {}
        causes: dict[str, AnyEvent] = {}
        for item in batch:
            tick = TickPoint.of(item)
            by_symbol.setdefault(tick.symbol, []).append(tick)
            causes[tick.event_id] = item.event
        symbols = list(by_symbol)
        n = max(1, min(self.lanes, len(symbols), len(batch) // LANE_MIN_TICKS))
        async with asyncio.TaskGroup() as group:
            lanes = [
                group.create_task(self._match({s: by_symbol[s] for s in symbols[i::n]}, causes))
                for i in range(n)
            ]
        outgoing: list[OutgoingAlert] = []
        published: dict[str, list[str]] = {}
        applied = retries = 0
        for lane in lanes:
            out = lane.result()
            outgoing += out.alerts
            published.update(out.published)
            applied += out.applied
            retries += out.retries
        if outgoing:
            fresh = [a for a in outgoing if a.match_id not in self._on_broker]
            if fresh:
                await self.sink.publish(fresh)
                self._on_broker.update(a.match_id for a in fresh)
            await self.store.ack(published)
            self._on_broker.clear()  # batches run one at a time: nothing else is pending
        return TickOutcome(applied, len(outgoing), retries)

    async def _match(
        self, pending: dict[str, list[TickPoint]], causes: dict[str, AnyEvent]
    ) -> _Lane:
        """Load, match and commit some symbols' ticks, again for the symbols that raced."""
        lane = _Lane()
        for attempt in range(MAX_ATTEMPTS):
            slices = await self.store.load(pending)
            runs = [self._run(s, causes) for s in slices.values()]
            results = await self.store.commit([c for c, _ in runs])
            retry: dict[str, list[TickPoint]] = {}
            for c, alerts in runs:
                symbol = c.slice.symbol
                if results[symbol] != OK:
                    retry[symbol] = pending[symbol]
                    continue
                lane.applied += len(c.slice.contexts)
                ids = lane.published.setdefault(symbol, [])
                for mid, raw in c.slice.outbox.items():
                    lane.alerts.append(outgoing(raw))
                    ids.append(mid)
                ids.extend(a.match_id for a in alerts)
                lane.alerts.extend(alerts)
            if not retry:
                return lane
            log.info("ticks raced another writer; reading again", extra={"symbols": len(retry)})
            lane.retries += 1
            pending = retry
            await asyncio.sleep(CONFLICT_BACKOFF_S * (attempt + 1))
        msg = f"could not commit ticks of {sorted(pending)} after {MAX_ATTEMPTS} attempts"
        raise TransientError(msg)

    def _run(
        self, sl: Slice, causes: dict[str, AnyEvent]
    ) -> tuple[SymbolCommit, list[OutgoingAlert]]:
        """Run a slice's fresh ticks through the core; the changes and alerts to commit."""
        commit = SymbolCommit(sl)
        alerts: list[OutgoingAlert] = []
        if not sl.contexts:
            return commit, alerts
        book = Book(sl.tape, sl.rules, gated=True)
        now = rfc3339(utc_now())
        for ctx in sl.contexts:
            for match in book.run(ctx):
                alert = encode_alert(
                    match, source=self.source, cause=causes[ctx.tick.event_id], now=now
                )
                alerts.append(alert)
                commit.alerts.append((alert.match_id, alert.raw))
        before = {spec.rule_id: state for spec, state in sl.rules}
        commit.changed = [(book.specs[r], book.states[r]) for r in book.changed]
        commit.before = {r: before[r] for r in book.changed}
        return commit, alerts
