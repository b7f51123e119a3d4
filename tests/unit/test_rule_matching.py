"""The rule engine's matching core, without any service: conditions at their boundaries,
crossings, re-arming, cooldowns, pct_change windows, and the backtest over in-memory ticks."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import consumers.rule_engine as rule_engine
from consumers.rule_engine import (
    ARMED,
    COOLING,
    DONE,
    WAITING,
    Book,
    RuleSpec,
    RuleState,
    Tape,
    TickPoint,
    TickRecord,
    alert_event_id,
    backtest,
    encode_alert,
    explain,
    match_id,
    rfc3339,
    step,
)
from schemas import (
    ALERT_MATCHES,
    AlertRuleCreatedV1,
    CloudEvent,
    MarketTickV1,
    codec_for,
    encode,
)

T0 = datetime(2026, 11, 24, tzinfo=UTC)
SYMBOL = "BTCUSDT"


def rule(
    kind: str,
    threshold: str,
    *,
    window_s: int | None = None,
    repeat: bool = False,
    cooldown_s: int = 0,
    rule_id: str = "r1",
) -> AlertRuleCreatedV1:
    condition: dict[str, Any] = {"kind": kind, "threshold": threshold}
    if window_s is not None:
        condition["window_s"] = window_s
    return AlertRuleCreatedV1.model_validate(
        {
            "rule_id": rule_id,
            "user_id": "u1",
            "symbol": SYMBOL,
            "condition": condition,
            "repeat": repeat,
            "cooldown_s": cooldown_s,
        }
    )


def ticks(*prices: str | tuple[float, str], symbol: str = SYMBOL) -> list[TickRecord]:
    """Ticks one second apart (or at the given second), offsets 0, 1, 2..."""
    out = []
    for i, item in enumerate(prices):
        second, price = (i, item) if isinstance(item, str) else item
        data = MarketTickV1(
            symbol=symbol,
            price=Decimal(price),
            venue="test",
            ts=T0 + timedelta(seconds=second),
        )
        out.append(TickRecord(CloudEvent.new(data, source="/tests"), "ixo.market.ticks", 0, i))
    return out


async def fired_at(payload: AlertRuleCreatedV1, items: list[TickRecord]) -> list[int]:
    """Offsets of the ticks the rule fires on."""
    return [m.alert.tick_offset or 0 for m in await backtest(payload, items)]


@pytest.mark.parametrize(
    ("kind", "threshold", "prices", "expected"),
    [
        ("above", "100", ("99.99", "100", "101"), [1]),
        ("above", "100", ("100.01",), [0]),
        ("below", "100", ("100.01", "100", "99"), [1]),
        ("below", "100", ("99.99",), [0]),
        ("crosses_above", "100", ("99", "100"), [1]),  # previous < threshold <= price
        ("crosses_above", "100", ("100", "101"), []),  # previous not below the threshold
        ("crosses_above", "100", ("100",), []),  # no previous price: no crossing
        ("crosses_above", "100", ("99", "99.5", "105", "98", "100.5"), [2]),  # fires once
        ("crosses_below", "100", ("101", "100"), [1]),  # previous > threshold >= price
        ("crosses_below", "100", ("100", "99"), []),
        ("crosses_below", "100", ("101", "100.5", "95", "102", "99"), [2]),
    ],
)
async def test_each_condition_fires_at_its_boundary(
    kind: str, threshold: str, prices: tuple[str, ...], expected: list[int]
) -> None:
    assert await fired_at(rule(kind, threshold), ticks(*prices)) == expected


async def test_repeat_re_arms_only_after_the_price_moves_back_across_the_threshold() -> None:
    payload = rule("above", "100", repeat=True)
    prices = ("100", "101", "100", "99.99", "100", "120", "99", "100")
    # 100 fires; 101 and 100 stay above (no re-arm); 99.99 re-arms; 100 fires; ...
    assert await fired_at(payload, ticks(*prices)) == [0, 4, 7]
    below = rule("below", "100", repeat=True)
    assert await fired_at(below, ticks("100", "99", "100.01", "100", "100")) == [0, 3]


async def test_crossings_repeat_in_both_directions() -> None:
    up = rule("crosses_above", "100", repeat=True)
    down = rule("crosses_below", "100", repeat=True)
    prices = ("99", "101", "99", "100", "100", "99.5", "100.5", "100")
    assert await fired_at(up, ticks(*prices)) == [1, 3, 6]
    # 100 -> 99.5 is no crossing below 100 (the previous price must be above it)
    assert await fired_at(down, ticks(*prices)) == [2, 7]


async def test_cooldown_is_the_minimum_tick_time_between_two_firings() -> None:
    payload = rule("crosses_above", "100", repeat=True, cooldown_s=10)
    # crossings at t=1, t=3 (inside the cooldown: lost), t=11 (exactly 10 s later: fires)
    items = ticks((0, "99"), (1, "101"), (2, "99"), (3, "101"), (10, "99"), (11, "101"), (12, "99"))
    assert await fired_at(payload, items) == [1, 5]
    level = rule("above", "100", repeat=True, cooldown_s=10)
    # fires at t=0; re-armed at t=1 but cooling until t=10; still above at t=10: fires again
    items = ticks((0, "101"), (1, "99"), (2, "101"), (9, "101"), (10, "101"), (11, "101"))
    assert await fired_at(level, items) == [0, 4]


async def test_without_repeat_a_rule_fires_once() -> None:
    payload = rule("above", "100")
    assert await fired_at(payload, ticks("101", "99", "101", "102")) == [0]


@pytest.mark.parametrize(
    ("threshold", "prices", "expected"),
    [
        # window 10 s: the reference is the oldest tick in [t - 10 s, t]
        ("5", ((0, "100"), (5, "103"), (10, "105")), [2]),  # exactly +5 %
        ("5", ((0, "100"), (5, "103"), (11, "105")), []),  # t=0 left the window: 105/103
        ("5", ((0, "100"), (5, "103"), (11, "108.15")), [2]),  # 108.15/103 = +5 %
        ("-5", ((0, "100"), (10, "95")), [1]),  # exactly -5 %
        ("-5", ((0, "100"), (10, "95.01")), []),
        ("-5", ((0, "100"), (11, "95")), []),  # the reference is 95 itself
    ],
)
async def test_pct_change_compares_with_the_oldest_price_in_the_window(
    threshold: str, prices: tuple[tuple[int, str], ...], expected: list[int]
) -> None:
    payload = rule("pct_change", threshold, window_s=10)
    assert await fired_at(payload, ticks(*prices)) == expected


async def test_pct_change_re_arms_when_the_change_falls_back() -> None:
    payload = rule("pct_change", "2", window_s=5, repeat=True)
    items = ticks(
        (0, "100"),
        (1, "102"),  # +2 %: fires
        (2, "103"),  # +3 %: still above, waiting
        (3, "101"),  # +1 %: re-armed
        (4, "102.5"),  # +2.5 %: fires
        (20, "100"),  # a new window: reference 100 itself, re-armed
        (21, "102"),  # +2 %: fires
    )
    assert await fired_at(payload, items) == [1, 4, 6]


async def test_the_alert_explains_itself() -> None:
    cross = await backtest(rule("crosses_above", "100"), ticks("99.5", "100.25"), rule_version=3)
    alert = cross[0].alert
    assert alert.rule_version == 3
    assert alert.previous_price == Decimal("99.5")
    assert alert.price == Decimal("100.25")
    assert (alert.tick_topic, alert.tick_partition, alert.tick_offset) == ("ixo.market.ticks", 0, 1)
    assert alert.triggered_at == T0 + timedelta(seconds=1)
    assert alert.match_id == match_id("r1", alert.tick_id)
    assert "previous price 99.5 < 100 <= price 100.25" in cross[0].reason
    assert cross[0].reason == explain(alert)

    pct = await backtest(rule("pct_change", "-5", window_s=60), ticks("100", "94"))
    alert = pct[0].alert
    assert alert.reference_price == Decimal(100)
    assert alert.reference_time == T0
    assert alert.change_pct == Decimal(-6)
    assert alert.previous_price is None
    assert alert.rule_version == 0  # a draft
    assert "change -6.0000% over 60s (from 100" in pct[0].reason


async def test_backtest_warms_up_before_since_and_skips_other_symbols() -> None:
    payload = rule("crosses_above", "100")
    items = ticks("99", "101", "99", "101")
    other = ticks("50", "200", symbol="ETHUSDT")
    # the crossing at offset 1 is before `since`; the tick before `since` is the previous price
    found = await backtest(payload, [*other, *items], since=T0 + timedelta(seconds=2))
    assert [m.alert.tick_offset for m in found] == [3]

    async def stream() -> Any:
        for item in items:
            yield item

    assert [m.alert.tick_offset for m in await backtest(payload, stream())] == [1]


def test_step_transitions() -> None:
    spec = RuleSpec.of(rule("above", "100", repeat=True, cooldown_s=5), version=1)
    tape = Tape(SYMBOL)

    def ctx(second: int, price: str) -> Any:
        item = ticks((second, price))[0]
        return tape.advance(TickPoint.of(item))

    state = RuleState()
    state, match = step(spec, state, ctx(0, "101"))
    assert match is not None
    t0 = int(T0.timestamp()) * 1000
    assert state == RuleState(WAITING, t0 + 5000, t0)
    same, match = step(spec, state, ctx(1, "102"))
    assert same is state
    assert match is None
    state, _ = step(spec, state, ctx(2, "99"))
    assert state.phase == COOLING
    state, match = step(spec, state, ctx(5, "101"))
    assert match is not None
    assert state.phase == WAITING
    state, _ = step(spec, state, ctx(20, "99"))
    assert state.phase == ARMED
    once = RuleSpec.of(rule("below", "100"), version=1)
    done, match = step(once, RuleState(), ctx(21, "99"))
    assert match is not None
    assert done.phase == DONE
    assert step(once, done, ctx(22, "50")) == (done, None)


def test_a_book_only_reports_changed_rules() -> None:
    specs = [
        RuleSpec.of(rule("above", str(100 + i), rule_id=f"r{i}", repeat=True)) for i in range(5)
    ]
    book = Book(Tape(SYMBOL), [(s, RuleState()) for s in specs])
    matches = book.apply(TickPoint.of(ticks("102")[0]))
    assert sorted(m.spec.rule_id for m in matches) == ["r0", "r1", "r2"]
    assert book.changed == {"r0", "r1", "r2"}


def test_public_api() -> None:
    assert sorted(rule_engine.__all__) == sorted(set(rule_engine.__all__))
    for name in rule_engine.__all__:
        assert hasattr(rule_engine, name), name


def test_a_gated_book_matches_exactly_like_stepping_every_rule() -> None:
    """The live engine's book skips rules a float comparison rules out: same result."""
    rng = random.Random(3)
    kinds = ["above", "below", "crosses_above", "crosses_below", "pct_change"]
    specs = []
    for i in range(300):
        kind = rng.choice(kinds)
        window = rng.choice([2, 10]) if kind == "pct_change" else None
        threshold = (
            str(rng.choice([-1, 1]) * Decimal(rng.randint(1, 40)) / 10)
            if window
            else str(Decimal(rng.randint(9800, 10200)) / 100)
        )
        payload = rule(
            kind,
            threshold,
            window_s=window,
            repeat=rng.random() < 0.8,
            cooldown_s=rng.choice([0, 0, 5]),
            rule_id=f"r{i}",
        )
        specs.append(RuleSpec.of(payload, version=1))
    windows = {s.window_s for s in specs if s.window_s}
    plain = Book(Tape(SYMBOL, windows), [(s, RuleState()) for s in specs])
    gated = Book(Tape(SYMBOL, windows), [(s, RuleState()) for s in specs], gated=True)
    price, second = Decimal(100), 0.0
    fired = 0
    for i in range(1500):
        price += Decimal(rng.randint(-40, 40)) / 100
        second += rng.choice([0.3, 1, 2])
        tick = TickPoint.of(ticks((second, str(price)))[0])
        tick = dataclasses.replace(tick, offset=i)
        a = [m.match_id for m in plain.apply(tick)]
        b = [m.match_id for m in gated.apply(tick)]
        assert a == b
        fired += len(a)
    assert plain.states == gated.states
    assert fired > 500


def test_match_ids_are_uuid5_of_the_rule_and_the_tick() -> None:
    for rule_id, tick_id in [("r1", "t1"), ("rule-9", "0193a1b2-0000-7000-8000-000000000000")]:
        expected = uuid.uuid5(rule_engine.MATCH_NAMESPACE, f"{rule_id}|{tick_id}")
        assert match_id(rule_id, tick_id) == str(expected)


@pytest.mark.parametrize(
    ("kind", "threshold", "window_s", "prices"),
    [
        ("above", "100", None, ("101.50",)),
        ("crosses_below", "100", None, ("100.25", "99.875")),
        ("pct_change", "-2", 10, ("100", "97")),
        ("pct_change", "1.5", 10, ((0, "64000"), (0.5, "64960.123"))),
    ],
)
def test_the_fast_alert_encoding_is_byte_identical_to_the_model(
    kind: str, threshold: str, window_s: int | None, prices: tuple[Any, ...]
) -> None:
    spec = RuleSpec.of(rule(kind, threshold, window_s=window_s), version=7)
    book = Book(Tape(SYMBOL, (window_s,) if window_s else ()), [(spec, RuleState())])
    items = ticks(*prices)
    matches = [m for item in items for m in book.apply(TickPoint.of(item))]
    assert len(matches) == 1
    cause = items[-1].event
    now = datetime(2026, 11, 24, 12, 30, 5, 123456, tzinfo=UTC)
    fast = encode_alert(matches[0], source="/consumers/rule-engine", cause=cause, now=rfc3339(now))
    model = CloudEvent.new(
        matches[0].alert(),
        source="/consumers/rule-engine",
        causation=cause,
        event_id=fast.event_id,
        time=now,
    )
    assert fast.raw == encode(model)
    assert codec_for(ALERT_MATCHES).decode(fast.raw) == model
    assert (fast.match_id, fast.key) == (model.data.match_id, model.subject)
    assert uuid.UUID(fast.event_id).version == 7
    assert fast.event_id == alert_event_id(fast.match_id, matches[0].ctx.tick.ts_ms)


def test_the_fast_encoding_keeps_a_tick_time_offset_like_the_model() -> None:
    spec = RuleSpec.of(rule("above", "1"), version=1)
    data = MarketTickV1(
        symbol=SYMBOL,
        price=Decimal("2"),
        venue="test",
        ts=datetime(2026, 11, 24, 14, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    item = TickRecord(CloudEvent.new(data, source="/tests"), "ixo.market.ticks", 3, 9)
    (match,) = Book(Tape(SYMBOL), [(spec, RuleState())]).apply(TickPoint.of(item))
    now = datetime(2026, 11, 24, 12, 0, 1, tzinfo=UTC)
    fast = encode_alert(match, source="/x", cause=item.event, now=rfc3339(now))
    model = CloudEvent.new(
        match.alert(), source="/x", causation=item.event, event_id=fast.event_id, time=now
    )
    assert fast.raw == encode(model)
    assert b'"triggered_at":"2026-11-24T14:00:00+02:00"' in fast.raw
