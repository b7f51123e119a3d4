"""Kafka records seen untyped: the parsed JSON value (if any), key, headers and position.

Tools that inspect topics (``tail``, ``dlq``) must work on dead letters and on bytes that are not
events at all, so values are parsed with orjson only, never validated. Helper headers written
under their legacy names (``ce_type``, ``ce_id``) are shown under the current ones (``ixo-type``,
``ixo-id``), so one ``--where`` works on old and new records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord

from schemas import (
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    header_map,
    loads,
)

SUMMARY_WIDTH = 160
RAW_WIDTH = 200


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


@dataclass(frozen=True)
class RawRecord:
    """One record as stored: ``event`` is the parsed JSON object, None when the value is not one."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    headers: dict[str, str]
    value: bytes
    event: dict[str, Any] | None
    raw_key: bytes | None = None

    @classmethod
    def parse(
        cls,
        value: bytes,
        *,
        topic: str = "",
        partition: int = 0,
        offset: int = 0,
        timestamp_ms: int = 0,
        key: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RawRecord:
        try:
            parsed = loads(value) if value else None
        except ValueError:
            parsed = None
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp_ms=timestamp_ms,
            key=_text(key),
            headers=header_map(headers),
            value=value,
            event=parsed if isinstance(parsed, dict) else None,
            raw_key=key.encode() if isinstance(key, str) else key,
        )

    @classmethod
    def from_kafka(cls, record: ConsumerRecord[Any, Any]) -> RawRecord:
        return cls.parse(
            record.value or b"",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
            key=record.key,
            headers=header_map(record.headers),
        )

    @property
    def position(self) -> str:
        return f"p{self.partition}@{self.offset}"

    @property
    def error_type(self) -> str | None:
        return self.headers.get(HEADER_ERROR_TYPE)

    @property
    def error(self) -> str | None:
        return self.headers.get(HEADER_ERROR)

    @property
    def source(self) -> str | None:
        """``topic[partition]@offset`` a dead letter came from, from its headers."""
        topic = self.headers.get(HEADER_SOURCE_TOPIC)
        if topic is None:
            return None
        partition = self.headers.get(HEADER_SOURCE_PARTITION, "?")
        return f"{topic}[{partition}]@{self.headers.get(HEADER_SOURCE_OFFSET, '?')}"

    def record_time(self) -> str:
        """The event's ``time`` when it has one, else the record's timestamp (RFC 3339, UTC)."""
        if self.event is not None and isinstance(self.event.get("time"), str):
            return str(self.event["time"])
        stamp = datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def value_json(self) -> Any:
        """The value for JSON output: the parsed JSON when it is JSON, else the text."""
        try:
            return loads(self.value) if self.value else None
        except ValueError:
            return self.value.decode("utf-8", "replace")

    def as_dict(self) -> dict[str, Any]:
        """Everything about the record, for ``--json`` listings of dead letters."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.record_time(),
            "key": self.key,
            "headers": self.headers,
            "error_type": self.error_type,
            "error": self.error,
            "source_topic": self.headers.get(HEADER_SOURCE_TOPIC),
            "source_partition": _int_or_none(self.headers.get(HEADER_SOURCE_PARTITION)),
            "source_offset": _int_or_none(self.headers.get(HEADER_SOURCE_OFFSET)),
            "value": self.value_json(),
        }


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


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
