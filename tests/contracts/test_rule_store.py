"""The contract of the rule engine's :class:`consumers.rule_engine.RuleStore`, run on every
implementation: :class:`MemoryRuleStore` and :class:`RedisRuleStore` (the stack's real Redis).

Rule events are ordered by their offsets (an older or repeated one is ignored, a deletion leaves
a tombstone, every applied event bumps the version and re-arms the rule); a tick at or below the
symbol's watermark is not fresh; commits are compare-and-set on the watermark and on the changed
rules' versions; the outbox keeps committed alerts until they are acknowledged; and the engine
driven over either store fires the same alerts and leaves the same rule states.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from consumers.rule_engine import (
    DONE,
    FRESH,
    OK,
    RULE_CHANGED,
    WAITING,
    WATERMARK_MOVED,
    MemoryRuleStore,
    OutgoingAlert,
    RedisRuleStore,
    RuleChange,
    RuleEngine,
    RuleState,
    RuleStore,
    SymbolCommit,
    TickPoint,
)
from infra.kafka import Delivery
from schemas import (
    ALERT_MATCHES,
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AlertTriggeredV1,
    CloudEvent,
    MarketTickV1,
    codec_for,
)

T0 = datetime(2026, 11, 24, tzinfo=UTC)
TICKS = "ixo.market.ticks"
DECODE = codec_for(ALERT_MATCHES).decode


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> RuleStore:
    if request.param == "redis":
        redis, prefix = request.getfixturevalue("redis"), request.getfixturevalue("key_prefix")
        return RedisRuleStore(redis, f"{prefix}rule-engine:")
    return MemoryRuleStore()


def rule(
    rule_id: str,
    kind: str,
    threshold: str,
    *,
    symbol: str = "BTCUSDT",
    window_s: int | None = None,
    repeat: bool = False,
    update: bool = False,
) -> AlertRuleCreatedV1 | AlertRuleUpdatedV1:
    condition: dict[str, Any] = {"kind": kind, "threshold": threshold, "window_s": window_s}
    model = AlertRuleUpdatedV1 if update else AlertRuleCreatedV1
    return model.model_validate(
        {
            "rule_id": rule_id,
            "user_id": f"user-{rule_id}",
            "symbol": symbol,
            "condition": condition,
            "repeat": repeat,
        }
    )


def deleted(rule_id: str, symbol: str = "BTCUSDT") -> AlertRuleDeletedV1:
    return AlertRuleDeletedV1(rule_id=rule_id, user_id=f"user-{rule_id}", symbol=symbol)


def tick(second: float, price: str, offset: int, *, symbol: str = "BTCUSDT") -> Delivery:
    data = MarketTickV1(
        symbol=symbol,
        price=Decimal(price),
        venue="test",
        ts=T0 + timedelta(seconds=second),
    )
    return Delivery(CloudEvent.new(data, source="/tests"), TICKS, 0, offset, 0)


def points(*items: Delivery) -> list[TickPoint]:
    return [TickPoint.of(i) for i in items]


class Collect:
    """An alert sink keeping the alerts it is given."""

    def __init__(self) -> None:
        self.alerts: list[AlertTriggeredV1] = []

    async def publish(self, alerts: Sequence[OutgoingAlert]) -> None:
        for a in alerts:
            data = DECODE(a.raw).data
            assert isinstance(data, AlertTriggeredV1)
            self.alerts.append(data)


# -- rule events ---------------------------------------------------------------------------


async def test_an_applied_rule_reads_back_at_version_one_and_armed(store: RuleStore) -> None:
    [applied] = await store.apply([RuleChange(rule("r1", "above", "100.50"), 0, 7)])
    assert (applied.rule_id, applied.applied, applied.version) == ("r1", True, 1)
    found = await store.get_rule("r1")
    assert found is not None
    spec, state = found
    assert (spec.rule_id, spec.user_id, spec.symbol, spec.kind) == (
        "r1",
        "user-r1",
        "BTCUSDT",
        "above",
    )
    assert spec.threshold == Decimal("100.50")
    assert spec.version == 1
    assert state == FRESH
    assert await store.get_rule("unknown") is None


async def test_an_event_not_newer_than_the_stored_one_is_ignored(store: RuleStore) -> None:
    await store.apply([RuleChange(rule("r1", "above", "100"), 0, 5)])
    again = await store.apply(
        [
            RuleChange(rule("r1", "above", "100"), 0, 5),  # redelivered
            RuleChange(rule("r1", "below", "1", update=True), 0, 4),  # older
        ]
    )
    assert [(a.applied, a.version) for a in again] == [(False, 1), (False, 1)]
    found = await store.get_rule("r1")
    assert found is not None
    assert (found[0].kind, found[0].threshold) == ("above", Decimal(100))


async def test_an_update_bumps_the_version_and_moves_the_rule(store: RuleStore) -> None:
    applied = await store.apply(
        [
            RuleChange(rule("r1", "above", "100"), 0, 1),
            RuleChange(rule("r1", "below", "90", symbol="ETHUSDT", update=True), 0, 2),
        ]
    )
    assert [(a.applied, a.version) for a in applied] == [(True, 1), (True, 2)]
    found = await store.get_rule("r1")
    assert found is not None
    assert (found[0].symbol, found[0].kind, found[0].version) == ("ETHUSDT", "below", 2)
    # The rule left BTCUSDT's candidates and joined ETHUSDT's.
    btc = await store.load({"BTCUSDT": points(tick(0, "50", 0))})
    eth = await store.load({"ETHUSDT": points(tick(0, "50", 0, symbol="ETHUSDT"))})
    assert [s.rule_id for s, _ in btc["BTCUSDT"].rules] == []
    assert [s.rule_id for s, _ in eth["ETHUSDT"].rules] == ["r1"]


async def test_a_deletion_leaves_a_tombstone(store: RuleStore) -> None:
    await store.apply(
        [RuleChange(rule("r1", "above", "100"), 0, 1), RuleChange(deleted("r1"), 0, 2)]
    )
    assert await store.get_rule("r1") is None
    # A replayed older event cannot bring it back; a newer one re-creates it, one version on.
    [old] = await store.apply([RuleChange(rule("r1", "above", "100"), 0, 1)])
    assert (old.applied, old.version) == (False, 2)
    assert await store.get_rule("r1") is None
    [new] = await store.apply([RuleChange(rule("r1", "above", "120"), 0, 3)])
    assert (new.applied, new.version) == (True, 3)
    found = await store.get_rule("r1")
    assert found is not None
    assert (found[0].threshold, found[0].version) == (Decimal(120), 3)


# -- ticks -------------------------------------------------------------------------------


async def test_load_runs_fresh_ticks_through_the_tape_and_offers_movable_rules(
    store: RuleStore,
) -> None:
    await store.apply(
        [
            RuleChange(rule("up", "crosses_above", "100"), 0, 0),
            RuleChange(rule("other", "above", "1", symbol="ETHUSDT"), 0, 1),
        ]
    )
    slices = await store.load({"BTCUSDT": points(tick(0, "99", 0), tick(1, "101", 1))})
    sl = slices["BTCUSDT"]
    assert sl.symbol == "BTCUSDT"
    assert sl.watermark == ("", "")
    assert sl.outbox == {}
    assert [c.tick.offset for c in sl.contexts] == [0, 1]
    assert sl.contexts[1].previous == Decimal(99)
    assert [(s.rule_id, st) for s, st in sl.rules] == [("up", FRESH)]


async def test_a_commit_moves_the_watermark_so_redelivered_ticks_are_not_fresh(
    store: RuleStore,
) -> None:
    first = await store.load({"BTCUSDT": points(tick(0, "99", 0), tick(1, "100", 1))})
    assert await store.commit([SymbolCommit(first["BTCUSDT"])]) == {"BTCUSDT": OK}
    again = await store.load(
        {"BTCUSDT": points(tick(0, "99", 0), tick(1, "100", 1), tick(2, "98", 2))}
    )
    sl = again["BTCUSDT"]
    assert sl.watermark == ("0", "1")
    assert [c.tick.offset for c in sl.contexts] == [2]
    assert sl.contexts[0].previous == Decimal(100)  # the last price was kept


async def test_a_commit_after_another_writer_moved_the_watermark_is_refused(
    store: RuleStore,
) -> None:
    batch = {"BTCUSDT": points(tick(0, "99", 0))}
    mine, theirs = await store.load(batch), await store.load(batch)
    assert await store.commit([SymbolCommit(theirs["BTCUSDT"])]) == {"BTCUSDT": OK}
    assert await store.commit([SymbolCommit(mine["BTCUSDT"])]) == {"BTCUSDT": WATERMARK_MOVED}


async def test_a_commit_changing_a_rule_updated_meanwhile_is_refused(store: RuleStore) -> None:
    await store.apply([RuleChange(rule("r1", "above", "100"), 0, 0)])
    sl = (await store.load({"BTCUSDT": points(tick(0, "101", 0))}))["BTCUSDT"]
    [(spec, before)] = sl.rules
    fired = RuleState(DONE, 0, sl.contexts[0].tick.ts_ms)
    await store.apply([RuleChange(rule("r1", "above", "200", update=True), 0, 1)])
    outcome = await store.commit([SymbolCommit(sl, changed=[(spec, fired)], before={"r1": before})])
    assert outcome == {"BTCUSDT": RULE_CHANGED}
    found = await store.get_rule("r1")
    assert found is not None
    assert (found[0].version, found[1]) == (2, FRESH)  # the update's state stands


async def test_committed_states_and_the_outbox_are_kept_until_acknowledged(
    store: RuleStore,
) -> None:
    await store.apply([RuleChange(rule("r1", "above", "100", repeat=True), 0, 0)])
    sl = (await store.load({"BTCUSDT": points(tick(0, "101", 0))}))["BTCUSDT"]
    [(spec, before)] = sl.rules
    waiting = RuleState(WAITING, 0, sl.contexts[0].tick.ts_ms)
    commit = SymbolCommit(
        sl, changed=[(spec, waiting)], before={"r1": before}, alerts=[("m1", b"one")]
    )
    assert await store.commit([commit]) == {"BTCUSDT": OK}
    assert await store.get_rule("r1") == (spec, waiting)
    assert await store.outbox("BTCUSDT") == {"m1": b"one"}
    again = (await store.load({"BTCUSDT": points(tick(1, "99", 1))}))["BTCUSDT"]
    assert again.outbox == {"m1": b"one"}  # an unpublished alert comes back with the symbol
    await store.ack({"BTCUSDT": ["m1"]})
    assert await store.outbox("BTCUSDT") == {}


# -- the engine over the store -------------------------------------------------------------


async def test_the_engine_fires_the_same_alerts_over_the_store(store: RuleStore) -> None:
    sink = Collect()
    engine = RuleEngine(store, sink)
    changes = [
        rule("above", "above", "100"),
        rule("below", "below", "100"),
        rule("up", "crosses_above", "100"),
        rule("down", "crosses_below", "100"),
        rule("pct", "pct_change", "5", window_s=10),
        rule("again", "above", "100", repeat=True),
    ]
    await engine.on_rules(
        [
            Delivery(CloudEvent.new(c, source="/tests"), "ixo.alerts.rules", 0, i, 0)
            for i, c in enumerate(changes)
        ]
    )
    prices = ["99.99", "100", "101", "99", "100.5", "99.5", "104", "105.3"]
    ticks = [tick(i, p, i) for i, p in enumerate(prices)]
    for item in ticks:  # one tick per batch: every state goes through the store
        await engine.on_ticks([item])
    await engine.on_ticks(ticks[:4])  # redelivered: nothing fires again
    fired = sorted((a.rule_id, a.tick_offset) for a in sink.alerts)
    assert fired == [
        ("above", 1),  # exactly at 100
        ("again", 1),
        ("again", 4),  # re-armed at 99, fired at 100.5
        ("again", 6),  # re-armed at 99.5, fired at 104
        ("below", 0),  # 99.99 <= 100 (then done: no repeat)
        ("down", 3),  # 101 -> 99
        ("pct", 7),  # 105.3 vs 99.99 at t=0 (window 10 s): +5.31 %
        ("up", 1),  # 99.99 -> 100: previous < 100 <= price
    ]
    by_rule = {a.rule_id: a for a in sink.alerts}
    assert by_rule["pct"].reference_price == Decimal("99.99")
    assert by_rule["up"].previous_price == Decimal("99.99")
    assert await store.outbox("BTCUSDT") == {}
    states = {r: await store.get_rule(r) for r in ("above", "again", "pct")}
    assert {r: None if s is None else s[1].phase for r, s in states.items()} == {
        "above": DONE,
        "again": WAITING,
        "pct": DONE,
    }
