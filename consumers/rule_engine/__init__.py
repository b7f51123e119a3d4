"""The rule engine: matches price ticks against alert rules kept in a rule store (a Redis
threshold index in production) and emits ``ixo.alert.triggered.v1``; plus the backtest that runs
the same matching code over history.

The FastStream app and the Kafka/Redis entry points live in :mod:`consumers.rule_engine.app`
(wiring: ``build_app``, ``backtest_history``, ``saved_rule``); this package's public API is the
matching core, its seams (``RuleStore``, ``AlertSink``, ``TickHistory``), the Redis and memory
stores and the backtest, usable without a broker. Only ``_redis.py`` (the adapter) and
``app.py`` import client libraries.
"""

from consumers.rule_engine._backtest import (
    BacktestMatch,
    TickRecord,
    backtest,
    backtest_range,
    backtest_warmup,
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
from consumers.rule_engine._memory import MemoryRuleStore
from consumers.rule_engine._redis import RedisRuleStore
from consumers.rule_engine._tape import Tape, pct_change
from consumers.rule_engine._types import (
    OK,
    RULE_CHANGED,
    WATERMARK_MOVED,
    AlertEvent,
    AlertSink,
    Applied,
    OutgoingAlert,
    Positioned,
    RuleChange,
    RuleEvent,
    RuleStore,
    Slice,
    SymbolCommit,
    TickHistory,
)

__all__ = [
    "ARMED",
    "COOLING",
    "DONE",
    "FRESH",
    "MATCH_NAMESPACE",
    "OK",
    "RULE_CHANGED",
    "SOURCE",
    "WAITING",
    "WATERMARK_MOVED",
    "AlertEvent",
    "AlertSink",
    "Applied",
    "BacktestMatch",
    "Book",
    "Match",
    "MemoryRuleStore",
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
    "RuleStore",
    "Slice",
    "SymbolCommit",
    "Tape",
    "TickContext",
    "TickHistory",
    "TickOutcome",
    "TickPoint",
    "TickRecord",
    "alert_event_id",
    "backtest",
    "backtest_range",
    "backtest_warmup",
    "encode_alert",
    "explain",
    "fires",
    "gate",
    "match_id",
    "pct_change",
    "placement",
    "rearms",
    "rfc3339",
    "step",
]
