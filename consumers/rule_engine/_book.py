"""A book: some rules of one symbol, their states and the symbol's tape.

It runs ticks through :func:`step` for the rules it holds. The backtest holds one rule and every
tick; the benchmark's naive evaluator holds every rule of a symbol and steps each one on every
tick; the live engine holds only the rules the Redis index says a batch can touch
(``_index.py``), which gives the same result because :func:`step` leaves every other rule as it
is. A *gated* book (the live engine's) also skips, tick by tick, the rules whose condition a
float comparison already rules out, by the same argument at a finer grain.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import inf

from consumers.rule_engine._matching import (
    ARMED,
    COOLING,
    DONE,
    FRESH,
    Match,
    RuleSpec,
    RuleState,
    TickContext,
    TickPoint,
    step,
)
from consumers.rule_engine._tape import Tape

Gate = tuple[float, float, int]
"""(lowest price, highest price, earliest tick time) at which a rule's state can change."""

_NEVER: Gate = (inf, -inf, 0)
_ALWAYS: Gate = (-inf, inf, 0)
_RISING = frozenset({"above", "crosses_above"})


def gate(spec: RuleSpec, state: RuleState) -> Gate:
    """When :func:`step` can change ``state`` at all (a necessary condition, never too narrow:
    rounding a Decimal to a float is monotonic, so ``p >= t`` implies ``float(p) >= float(t)``)."""
    phase = state.phase
    if phase == DONE:
        return _NEVER
    if phase == COOLING:
        return (-inf, inf, state.until_ms)
    if spec.condition.kind == "pct_change":
        return _ALWAYS
    threshold = float(spec.condition.threshold)
    # Armed: fires at or beyond the threshold; waiting: re-arms back across it.
    if (spec.condition.kind in _RISING) == (phase == ARMED):
        return (threshold, inf, 0)
    return (-inf, threshold, 0)


class Book:
    """Rules of one symbol with their states; :meth:`apply` runs one tick through them."""

    __slots__ = ("_gates", "changed", "gated", "specs", "states", "tape")

    def __init__(
        self,
        tape: Tape,
        rules: Iterable[tuple[RuleSpec, RuleState]] = (),
        *,
        gated: bool = False,
    ) -> None:
        self.tape = tape
        self.gated = gated
        self.specs: dict[str, RuleSpec] = {}
        self.states: dict[str, RuleState] = {}
        self._gates: dict[str, Gate] = {}
        self.changed: set[str] = set()
        """Ids of the rules whose state changed since the book was made."""
        for spec, state in rules:
            self.add(spec, state)

    def add(self, spec: RuleSpec, state: RuleState = FRESH) -> None:
        self.specs[spec.rule_id] = spec
        self.states[spec.rule_id] = state
        if self.gated:
            self._gates[spec.rule_id] = gate(spec, state)

    def apply(self, tick: TickPoint) -> list[Match]:
        """Advance the tape by ``tick`` and step the rules; returns the matches, in rule order."""
        return self.run(self.tape.advance(tick))

    def run(self, ctx: TickContext) -> list[Match]:
        """Step the rules on an already computed tick context."""
        if self.gated:
            return self._run_gated(ctx)
        out: list[Match] = []
        states = self.states
        for rule_id, spec in self.specs.items():
            state = states[rule_id]
            new, match = step(spec, state, ctx)
            if new is not state:
                states[rule_id] = new
                self.changed.add(rule_id)
            if match is not None:
                out.append(match)
        return out

    def _run_gated(self, ctx: TickContext) -> list[Match]:
        out: list[Match] = []
        states, gates = self.states, self._gates
        price = float(ctx.tick.price)
        ts = ctx.tick.ts_ms
        for rule_id, spec in self.specs.items():
            lo, hi, after = gates[rule_id]
            if price < lo or price > hi or ts < after:
                continue
            state = states[rule_id]
            new, match = step(spec, state, ctx)
            if new is not state:
                states[rule_id] = new
                gates[rule_id] = gate(spec, new)
                self.changed.add(rule_id)
            if match is not None:
                out.append(match)
        return out
