"""The rule store in process memory: the same behaviour as the Redis store (versions ordered by
rule-event offsets, tombstones, watermarks, compare-and-set commits, the outbox) for one process.

Used by unit tests and anything that embeds the engine without Redis; the contract suite
(``tests/contracts/test_rule_store.py``) runs the same tests on both stores. Every method runs
without awaiting, so each is atomic with respect to other tasks, as a Redis script is.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from consumers.rule_engine._book import Book
from consumers.rule_engine._matching import FRESH, RuleSpec, RuleState, TickPoint
from consumers.rule_engine._tape import Tape
from consumers.rule_engine._types import (
    OK,
    RULE_CHANGED,
    WATERMARK_MOVED,
    Applied,
    RuleChange,
    Slice,
    SymbolCommit,
)
from schemas import AlertRuleDeletedV1


@dataclass(slots=True)
class _Rule:
    """A rule's record: its version and the rule event it comes from; ``spec`` is None for a
    deleted rule (a tombstone, so a replayed older event cannot bring it back)."""

    version: int
    partition: int
    offset: int
    spec: RuleSpec | None
    state: RuleState = FRESH


@dataclass(slots=True)
class _Symbol:
    """A symbol's tape, watermark and outbox."""

    last_price: Decimal | None = None
    last_ts_ms: int | None = None
    watermark: tuple[str, str] = ("", "")
    history: list[tuple[int, Decimal]] = field(default_factory=list)
    history_second: int | None = None
    outbox: dict[str, bytes] = field(default_factory=dict)


class MemoryRuleStore:
    """A :class:`consumers.rule_engine._types.RuleStore` in a dict."""

    def __init__(self) -> None:
        self._rules: dict[str, _Rule] = {}
        self._symbols: dict[str, _Symbol] = {}

    def _of(self, symbol: str) -> list[_Rule]:
        return [r for r in self._rules.values() if r.spec is not None and r.spec.symbol == symbol]

    # -- rules ------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[RuleChange]) -> list[Applied]:
        out: list[Applied] = []
        for change in changes:
            rule = change.rule
            current = self._rules.get(rule.rule_id)
            if (
                current is not None
                and current.partition == change.partition
                and current.offset >= change.offset
            ):
                out.append(Applied(rule.rule_id, False, current.version))
                continue
            version = (current.version if current is not None else 0) + 1
            spec = None if isinstance(rule, AlertRuleDeletedV1) else RuleSpec.of(rule, version)
            self._rules[rule.rule_id] = _Rule(version, change.partition, change.offset, spec)
            out.append(Applied(rule.rule_id, True, version))
        return out

    async def get_rule(self, rule_id: str) -> tuple[RuleSpec, RuleState] | None:
        found = self._rules.get(rule_id)
        if found is None or found.spec is None:
            return None
        return found.spec, found.state

    # -- ticks ------------------------------------------------------------------------------

    def _tape(self, symbol: str) -> Tape:
        sym = self._symbols.get(symbol) or _Symbol()
        windows = {r.spec.window_s for r in self._of(symbol) if r.spec and r.spec.window_s}
        return Tape(
            symbol,
            windows,
            last_price=sym.last_price,
            last_ts_ms=sym.last_ts_ms,
            history=sym.history,
            history_second=sym.history_second,
        )

    async def load(self, batches: Mapping[str, Sequence[TickPoint]]) -> dict[str, Slice]:
        out: dict[str, Slice] = {}
        for symbol, ticks in batches.items():
            sym = self._symbols.get(symbol) or _Symbol()
            tape = self._tape(symbol)
            wp, wm = sym.watermark
            part = int(wp) if wp else None
            mark = int(wm) if wm else -1
            contexts = [
                tape.advance(t) for t in ticks if not (t.partition == part and t.offset <= mark)
            ]
            # Every live rule of the symbol is a candidate: ``step`` leaves the ones no tick
            # moves as they are (the Redis store narrows them down with its index).
            rules = [(r.spec, r.state) for r in self._of(symbol) if r.spec is not None]
            out[symbol] = Slice(symbol, tape, contexts, rules, dict(sym.outbox), sym.watermark)
        return out

    async def commit(self, commits: Sequence[SymbolCommit]) -> dict[str, int]:
        out = {c.slice.symbol: OK for c in commits}
        for c in commits:
            if c.slice.contexts:
                out[c.slice.symbol] = self._commit(c)
        return out

    def _commit(self, c: SymbolCommit) -> int:
        sl, tape = c.slice, c.slice.tape
        sym = self._symbols.setdefault(sl.symbol, _Symbol())
        if sym.watermark != sl.watermark:
            return WATERMARK_MOVED
        for spec, _ in c.changed:
            current = self._rules.get(spec.rule_id)
            if (
                current is None
                or current.spec is None
                or current.spec.symbol != sl.symbol
                or current.version != spec.version
            ):
                return RULE_CHANGED
        last = sl.contexts[-1].tick
        sym.watermark = (str(last.partition), str(last.offset))
        sym.last_price, sym.last_ts_ms = last.price, last.ts_ms
        if tape.history_second is not None:
            sym.history_second = tape.history_second
        points = dict(sym.history)
        points.update(tape.appended)
        history = sorted(points.items())
        cut = tape.trim_before()
        if tape.history_dropped:
            history, sym.history_second = [], None
        elif cut is not None:
            history = history[bisect_left(history, (cut, Decimal("-Infinity"))) :]
        sym.history = history
        for spec, state in c.changed:
            self._rules[spec.rule_id].state = state
        sym.outbox.update(c.alerts)
        return OK

    async def ack(self, published: Mapping[str, Sequence[str]]) -> None:
        for symbol, ids in published.items():
            outbox = self._symbols.get(symbol, _Symbol()).outbox
            for match_id in ids:
                outbox.pop(match_id, None)

    async def outbox(self, symbol: str) -> dict[str, bytes]:
        return dict(self._symbols.get(symbol, _Symbol()).outbox)

    # -- inspection -------------------------------------------------------------------------

    async def snapshot(self, symbol: str) -> Book:
        """Every rule of ``symbol`` with its state, and the symbol's tape, as a :class:`Book`."""
        rules = [(r.spec, r.state) for r in self._of(symbol) if r.spec is not None]
        return Book(self._tape(symbol), rules)

    async def clear(self) -> int:
        """Forget everything; returns how many rules and symbols were held."""
        held = len(self._rules) + len(self._symbols)
        self._rules.clear()
        self._symbols.clear()
        return held
