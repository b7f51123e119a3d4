"""Kafka record headers: the content type, the helper headers every record carries (so tools can
filter without parsing values) and the extra headers of a dead-lettered record.

Records are CloudEvents in structured mode: the value is the whole event and ``content-type`` is
``application/cloudevents+json``. The Kafka protocol binding reserves the ``ce_`` prefix for binary
mode (a reader such as the official SDK takes any ``ce_`` header as binary mode), so our helper
headers live under ``ixo-``. Records written before that carry ``ce_type`` / ``ce_id``;
:func:`header_map` reads both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

HEADER_CONTENT_TYPE: Final = "content-type"
CLOUDEVENTS_CONTENT_TYPE: Final = "application/cloudevents+json; charset=UTF-8"

HEADER_TYPE: Final = "ixo-type"
HEADER_ID: Final = "ixo-id"
LEGACY_HEADERS: Final[Mapping[str, str]] = {"ce_type": HEADER_TYPE, "ce_id": HEADER_ID}
"""Helper headers as records written before the ``ixo-`` names carry them, and their new name."""

HEADER_ERROR: Final = "x-error"
HEADER_ERROR_TYPE: Final = "x-error-type"
HEADER_SOURCE_TOPIC: Final = "x-source-topic"
HEADER_SOURCE_PARTITION: Final = "x-source-partition"
HEADER_SOURCE_OFFSET: Final = "x-source-offset"
HEADER_GROUP: Final = "x-consumer-group"
"""On a dead letter: the consumer group whose handler (or decoder) failed the record."""

HEADER_REQUEUED_FOR: Final = "ixo-requeued-for"
"""On a requeued record: the one consumer group that should process it again (the group that
dead-lettered it); every other group skips it, having processed the original."""
HEADER_REQUEUE_OF: Final = "ixo-requeue-of"
"""On a requeued record: the dead letter it was requeued from (``topic/partition/offset``)."""

HeaderPairs = Iterable[tuple[str, bytes | str]]
"""Headers as Kafka clients hand them over: ``(name, value)`` pairs."""


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def header_map(headers: HeaderPairs | Mapping[str, bytes | str] | None) -> dict[str, str]:
    """Headers as text by name, legacy helper names (``ce_type``, ``ce_id``) under the current
    ones (``ixo-type``, ``ixo-id``); a current header wins over a legacy one."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    out: dict[str, str] = {}
    legacy: dict[str, str] = {}
    for name, value in pairs:
        current = LEGACY_HEADERS.get(name)
        if current is None:
            out[name] = _text(value)
        else:
            legacy[current] = _text(value)
    for name, value in legacy.items():
        out.setdefault(name, value)
    return out


def envelope_headers(event_type: str, event_id: str) -> dict[str, str]:
    """The headers of a record that carries one event (structured mode)."""
    return {
        HEADER_CONTENT_TYPE: CLOUDEVENTS_CONTENT_TYPE,
        HEADER_TYPE: event_type,
        HEADER_ID: event_id,
    }
