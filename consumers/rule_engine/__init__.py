"""The rule engine: matches price ticks against alert rules kept in a Redis threshold index and
emits ``ixo.alert.triggered.v1``; plus the backtest that runs the same matching code over history.

The FastStream app and the Kafka/Redis entry points live in :mod:`consumers.rule_engine.app`
(wiring: ``build_app``, ``backtest_history``, ``saved_rule``); this package's public API is the
matching core, the Redis store and the backtest, usable without a broker.
"""

from consumers.rule_engine._backtest import (
    BacktestMatch,
    TickRecord,
    backtest,
    backtest_range,
    partition_for,
    read_ticks,
)
from consumers.rule_engine._book import Book, gate
from consumers.rule_engine._encoding import alert_event_id, encode_alert, rfc3339
from consumers.rule_engine._engine import SOURCE, RuleEngine, TickOutcome
from consumers.rule_engine._index import placement
from consumers.rule_engine._matching import (
    ARMED,
    COOLING,
    DONE,
    FRESH,
    MATCH_NAMESPACE,
    WAITING,
    Match,
    Phase,
    RulePayload,
    RuleSpec,
    RuleState,
    TickContext,
    TickPoint,
    explain,
    fires,
    match_id,
    rearms,
    step,
)
from consumers.rule_engine._redis import Applied, RedisRuleStore, RuleChange, RuleEvent
from consumers.rule_engine._tape import Tape, pct_change
from consumers.rule_engine._types import AlertEvent, AlertSink, OutgoingAlert, Positioned

__all__ = [
    "ARMED",
    "COOLING",
    "DONE",
    "FRESH",
    "MATCH_NAMESPACE",
    "SOURCE",
    "WAITING",
    "AlertEvent",
    "AlertSink",
    "Applied",
    "BacktestMatch",
    "Book",
    "Match",
    "OutgoingAlert",
    "Phase",
    "Positioned",
    "RedisRuleStore",
    "RuleChange",
    "RuleEngine",
    "RuleEvent",
    "RulePayload",
    "RuleSpec",
    "RuleState",
    "Tape",
    "TickContext",
    "TickOutcome",
    "TickPoint",
    "TickRecord",
    "alert_event_id",
    "backtest",
    "backtest_range",
    "encode_alert",
    "explain",
    "fires",
    "gate",
    "match_id",
    "partition_for",
    "pct_change",
    "placement",
    "read_ticks",
    "rearms",
    "rfc3339",
    "step",
]
