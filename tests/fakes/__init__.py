"""Test doubles, in one place: simple implementations of our own Protocols (the agent's ports,
the scheduler's ledger, book and sink) and a customer's webhook receiver. Test modules import
them from here, never from each other; stand-ins for third-party APIs are part of the local
stack (:mod:`infra.stack.standins`)."""

from tests.fakes._agent import (
    PRICE_TIME,
    FixedPrices,
    RecordingRules,
    RecordingSink,
    SinkCrashError,
    chat,
)
from tests.fakes._clock import ManualClock
from tests.fakes._knowledge import Asked, WordOverlapKnowledge
from tests.fakes._notify import MemoryRateLimiter
from tests.fakes._scheduler import MemoryBook, MemoryLedger, MemorySink
from tests.fakes._webhook import Received, WebhookReceiver

__all__ = [
    "PRICE_TIME",
    "Asked",
    "FixedPrices",
    "ManualClock",
    "MemoryBook",
    "MemoryLedger",
    "MemoryRateLimiter",
    "MemorySink",
    "Received",
    "RecordingRules",
    "RecordingSink",
    "SinkCrashError",
    "WebhookReceiver",
    "WordOverlapKnowledge",
    "chat",
]
