"""Kafka records seen untyped: the parsed JSON value (if any), key, headers and position.

Tools that inspect topics (``tail``, ``dlq``) must work on dead letters and on bytes that are not
events at all, so values are parsed with orjson only, never validated. Helper headers written
under their legacy names (``ce_type``, ``ce_id``) are shown under the current ones (``ixo-type``,
``ixo-id``), so one ``--where`` works on old and new records. :class:`RawRecord` lives in
``infra.kafka`` (shared with the gateway's operator routes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from infra.kafka import RawRecord

__all__ = ["RawRecord", "RecordRow", "clip", "row_of", "summarize"]

SUMMARY_WIDTH = 160
RAW_WIDTH = 200


@dataclass(frozen=True)
class RecordRow:
    """What people see of one record."""

    time: str
    position: str
    type: str
    subject: str
    summary: str
    raw: str | None
    headers: dict[str, str]
    error_type: str | None
    error: str | None
    source: str | None


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, default=str).decode()


def summarize(data: Any, width: int = SUMMARY_WIDTH) -> str:
    """``key=value`` pairs of a payload's top-level fields, clipped to ``width``."""
    if isinstance(data, dict):
        text = " ".join(f"{k}={_compact(v)}" for k, v in data.items())
    else:
        text = _compact(data)
    return clip(text, width)


def row_of(record: RawRecord) -> RecordRow:
    event = record.event
    if event is None:
        raw: str | None = clip(record.value.decode("utf-8", "replace"), RAW_WIDTH)
        kind = subject = summary = ""
    else:
        raw = None
        kind = str(event.get("type", "?"))
        subject = str(event.get("subject", record.key or "-"))
        summary = summarize(event.get("data"))
    return RecordRow(
        time=record.record_time(),
        position=record.position,
        type=kind,
        subject=subject,
        summary=summary,
        raw=raw,
        headers=record.headers,
        error_type=record.error_type,
        error=record.error,
        source=record.source,
    )
