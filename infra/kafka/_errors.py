"""Kafka's errors mapped into ours, in one place: the rest of the code never catches aiokafka's.

A record that can never be published (too large for the producer or the broker, an invalid topic
name, a value that cannot be serialised) is a :class:`PermanentError` for that record: retrying
it only blocks the records behind it. Everything else (the broker unreachable, a leader moving, a
timeout, missing permissions an operator can grant) is a :class:`TransientError`, retried.
"""

from __future__ import annotations

from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)
from faststream.exceptions import IncorrectState

from schemas import PermanentError, TransientError

NEVER_SUCCEEDS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    CorruptRecordException,
    InvalidTimestampError,
    UnsupportedForMessageFormatError,
)
"""Errors that the same record meets again on every retry."""


def publish_error(exc: BaseException, topic: str) -> TransientError | PermanentError:
    """Our error for a failure to publish one record to ``topic`` (chain it with ``from exc``)."""
    if isinstance(exc, NEVER_SUCCEEDS):
        msg = f"Kafka can never accept this record on {topic}: {type(exc).__name__}: {exc}"
        return PermanentError(msg)
    if isinstance(exc, KafkaError | IncorrectState | OSError | TimeoutError):
        msg = f"Kafka did not accept the record on {topic}: {type(exc).__name__}: {exc}"
        return TransientError(msg)
    msg = f"cannot publish to {topic}: {type(exc).__name__}: {exc}"
    return PermanentError(msg)
