"""Rebuilding the rule engine's working state after its store lost it (Redis restarted without
persistence, a ``FLUSHALL``, ``ixo rebuild redis``), from the sources of truth:

- **rules** — ``ixo.alerts.rules`` (compacted) folded to the latest event per rule, applied with
  their own (partition, offset), so the live rules consumer's redeliveries stay no-ops and newer
  events still win; deleted rules come back as tombstones;
- **rule states** (armed / waiting / cooling / done, cooldown end, last fired) — the alerts on
  ``ixo.alerts.matches`` say which tick each rule last fired on; each rule is re-applied fresh at
  that tick (or, if it never fired under its current definition, at the first tick written after
  its rule event) and the ticks from there up to the tick group's committed offsets go through
  the live engine again. The core is deterministic, so a rule fires on that tick again (same
  ``match_id``: recognised and not published) and ends in the state the live engine had;
- **each symbol's tape** (previous price, pct_change history) and **watermark** — the same
  replay, which starts ``warmup_ms`` (at least the longest pct_change window) before the
  earliest of those fired ticks and of now, and at least ``tail`` ticks before the resume point.
  A rule that never fired is still armed however old it is, so it does not extend the replay;
- **alerts decided while the store was empty** (a batch that ran between the loss and its
  detection) — the replay decides them again; a match whose ``match_id`` is not on the alerts
  topic is published (nothing is lost), one that is, is not (nothing fires twice).

A rule whose last fire is older than the ticks topic still holds (its retention is shorter than
the alerts topic's) is put in the state right after that fire (waiting, or done) before the
replay, with ``StateRestore`` (the Redis store): it re-arms on the first replayed tick where its
condition is false, as it would have live.

Not restored: rule versions restart at 1 (the alerts' ``rule_version`` counts from the rebuild);
a rule's "fired under its current definition" is judged by broker times (the alert's record time
against the rule event's), and a rule takes effect in the replay at the first tick written after
its rule event, while the live engine applied it a moment later: ticks within that moment can
fire in the replay and not live (the replay then publishes that match). A symbol with no tick
in the replayed window has no previous price until its next tick, as after a fresh start.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

from consumers.rule_engine._engine import RuleEngine
from consumers.rule_engine._matching import DONE, WAITING, RuleState
from consumers.rule_engine._types import AlertSink, OutgoingAlert, Positioned, RuleChange, RuleStore
from schemas import (
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AlertTriggeredV1,
)

log = logging.getLogger(__name__)

WARMUP_MS: Final = 300_000
"""Ticks replayed before the earliest rule start only to warm up previous prices and pct_change
histories (the backtest's warm-up; a longer pct_change window extends it)."""
REPLAY_BATCH: Final = 1000
TAIL_TICKS: Final = 10_000
"""At least this many ticks before the resume point are replayed per partition (previous prices
when the engine lags by more than the warm-up)."""


class Stamped(Positioned, Protocol):
    """A positioned record with its broker time (``infra.kafka.Delivery`` satisfies this)."""

    @property
    def timestamp_ms(self) -> int: ...


class RebuildSource(Protocol):
    """What a rebuild reads (Kafka in production)."""

    async def rules(self) -> Sequence[Stamped]:
        """The latest event of every rule on the rules topic."""
        ...

    def alerts(self) -> AsyncIterator[Stamped]:
        """Every alert on the alerts topic."""
        ...

    async def resume_offsets(self) -> Mapping[int, int]:
        """The tick group's committed offset per ticks partition (where live matching resumes)."""
        ...

    async def tick_offsets_at(self, ts_ms: int) -> Mapping[int, int]:
        """Per ticks partition, the first offset written at or after ``ts_ms``."""
        ...

    def ticks(self, partition: int, start: int, end: int) -> AsyncIterator[Stamped]:
        """Ticks of one partition in ``[start, end)``, in offset order."""
        ...

    def partition_of(self, symbol: str) -> int:
        """The ticks partition a symbol's ticks go to."""
        ...

    async def first_tick_offset(self, partition: int) -> int:
        """The oldest offset still on a ticks partition (retention deletes older ones)."""
        ...


@runtime_checkable
class StateRestore(Protocol):
    """A store that can put applied rules in a given state (``RedisRuleStore``)."""

    async def restore_states(self, states: Sequence[tuple[str, RuleState]]) -> None: ...


@dataclass(slots=True)
class RebuildSummary:
    """What a rebuild restored."""

    rules: int = 0
    deleted: int = 0
    fired_rules: int = 0
    fired_before_history: int = 0
    ticks: int = 0
    already_published: int = 0
    published: int = 0


class _KnownFilter:
    """The replay's alert sink: drops matches already on the alerts topic, publishes the others
    (decided while the store was empty: they would be lost otherwise)."""

    def __init__(self, sink: AlertSink, known: set[str], summary: RebuildSummary) -> None:
        self._sink = sink
        self._known = known
        self._summary = summary

    async def publish(self, alerts: Sequence[OutgoingAlert]) -> None:
        fresh = [a for a in alerts if a.match_id not in self._known]
        self._summary.already_published += len(alerts) - len(fresh)
        if fresh:
            await self._sink.publish(fresh)
            self._known.update(a.match_id for a in fresh)
            self._summary.published += len(fresh)


@dataclass(slots=True)
class _Pending:
    """A rule waiting for its start tick in the replay."""

    change: RuleChange
    fired_offset: int | None
    since_ms: int
    applied: bool = field(default=False)

    def after_fire(self) -> RuleState:
        """The state right after its last fire (``_matching.step``)."""
        rule = self.change.rule
        assert isinstance(rule, AlertRuleCreatedV1 | AlertRuleUpdatedV1)
        ts = self.since_ms
        return RuleState(WAITING if rule.repeat else DONE, ts + rule.cooldown_s * 1000, ts)

    def starts_at(self, tick: Stamped) -> bool:
        if self.fired_offset is not None:
            return tick.offset >= self.fired_offset
        return tick.timestamp_ms >= self.since_ms


async def rebuild(
    store: RuleStore,
    sink: AlertSink,
    source: RebuildSource,
    *,
    now_ms: int,
    warmup_ms: int = WARMUP_MS,
    tail: int = TAIL_TICKS,
    batch: int = REPLAY_BATCH,
) -> RebuildSummary:
    """Rebuild ``store`` (empty) from ``source``; publishes through ``sink`` only matches that
    are not on the alerts topic yet. ``now_ms``: the wall clock (the tapes' warm-up ends
    there). See the module doc."""
    summary = RebuildSummary()
    latest = await source.rules()
    live = [r for r in latest if isinstance(r.event.data, AlertRuleCreatedV1 | AlertRuleUpdatedV1)]
    gone = [r for r in latest if isinstance(r.event.data, AlertRuleDeletedV1)]
    await store.apply([RuleChange(r.event.data, r.partition, r.offset) for r in gone])
    summary.deleted = len(gone)
    summary.rules = len(live)

    # The last fire of each rule (by tick position) and every match id already published.
    known: set[str] = set()
    fired: dict[str, tuple[int, int, int, int]] = {}  # rule -> partition, offset, tick ms, rec ms
    async for item in source.alerts():
        alert = item.event.data
        if not isinstance(alert, AlertTriggeredV1):
            continue
        known.add(alert.match_id)
        if alert.tick_partition is None or alert.tick_offset is None:
            continue
        seen = fired.get(alert.rule_id)
        if seen is None or alert.tick_offset > seen[1]:
            tick_ms = int(alert.triggered_at.timestamp() * 1000)
            fired[alert.rule_id] = (
                alert.tick_partition,
                alert.tick_offset,
                tick_ms,
                item.timestamp_ms,
            )

    # Where each rule starts in the replay of its symbol's partition. A rule that never fired
    # under its current definition is still armed however many ticks passed, so only fired rules
    # push the replay back; the rest of the window warms up the tapes.
    by_partition: dict[int, list[_Pending]] = {}
    longest = warmup_ms
    first_ms = now_ms
    for r in live:
        data = r.event.data
        assert isinstance(data, AlertRuleCreatedV1 | AlertRuleUpdatedV1)
        part = source.partition_of(data.symbol)
        last = fired.get(data.rule_id)
        offset: int | None = None
        since = r.timestamp_ms
        if last is not None and last[0] == part and last[3] >= r.timestamp_ms:
            offset, since = last[1], last[2]
            summary.fired_rules += 1
            first_ms = min(first_ms, since)
        if data.condition.window_s:
            longest = max(longest, data.condition.window_s * 1000 + warmup_ms)
        change = RuleChange(data, r.partition, r.offset)
        by_partition.setdefault(part, []).append(_Pending(change, offset, since))

    engine = RuleEngine(store, _KnownFilter(sink, known, summary))
    resume = await source.resume_offsets()
    warm = await source.tick_offsets_at(first_ms - longest)
    for part, pending in sorted(by_partition.items()):
        start, end = warm.get(part), resume.get(part)
        if end is not None:
            start = max(0, end - tail) if start is None else min(start, max(0, end - tail))
            start = max(start, await source.first_tick_offset(part))
            await _fired_before(engine.store, pending, start, summary)
        if start is not None and end is not None and end > start:
            summary.ticks += await _replay(
                engine, source, partition=part, start=start, end=end, pending=pending, size=batch
            )
        await store.apply([p.change for p in pending if not p.applied])
    log.info(
        "rule engine state rebuilt",
        extra={
            "rules": summary.rules,
            "deleted": summary.deleted,
            "ticks": summary.ticks,
            "published": summary.published,
        },
    )
    return summary


async def _fired_before(
    store: RuleStore, pending: list[_Pending], start: int, summary: RebuildSummary
) -> None:
    """Rules whose last fire is older than the first tick that can be replayed (the ticks
    topic's retention is shorter than the alerts topic's): applied now, in the state right after
    that fire (waiting, or done), so they cannot fire again on the replayed ticks; a waiting
    rule re-arms on the first of them where its condition is false, as it would have live."""
    early = [p for p in pending if p.fired_offset is not None and p.fired_offset < start]
    if not early:
        return
    await store.apply([p.change for p in early])
    for p in early:
        p.applied = True
    summary.fired_before_history += len(early)
    if isinstance(store, StateRestore):
        await store.restore_states([(p.change.rule.rule_id, p.after_fire()) for p in early])
    else:
        log.warning("store cannot restore rule states; rules fired long ago are re-armed")


async def _replay(
    engine: RuleEngine,
    source: RebuildSource,
    *,
    partition: int,
    start: int,
    end: int,
    pending: list[_Pending],
    size: int,
) -> int:
    """Run one partition's ticks through the engine, applying each rule right before its start
    tick; returns how many ticks were replayed."""
    waiting = [p for p in pending if not p.applied]
    chunk: list[Stamped] = []
    count = 0
    async for tick in source.ticks(partition, start, end):
        due = [p for p in waiting if p.starts_at(tick)]
        if due:
            if chunk:
                await engine.on_ticks(chunk)
                chunk = []
            await engine.store.apply([p.change for p in due])
            for p in due:
                p.applied = True
            waiting = [p for p in waiting if not p.applied]
        chunk.append(tick)
        count += 1
        if len(chunk) >= size:
            await engine.on_ticks(chunk)
            chunk = []
    if chunk:
        await engine.on_ticks(chunk)
    return count
