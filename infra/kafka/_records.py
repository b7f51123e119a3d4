"""Kafka records seen untyped, and reading them by offset range.

Tools that inspect topics (``ixo tail``, ``ixo dlq``, the operator routes) must work on dead
letters and on bytes that are not events at all, so values are parsed with orjson only, never
validated. Helper headers written under their legacy names (``ce_type``, ``ce_id``) are shown
under the current ones (``ixo-type``, ``ixo-id``), so one filter works on old and new records.
(Moved from the CLI in issue 14 so the gateway's operator routes share them.)
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from infra.kafka._admin import partitions_of
from infra.settings import Settings
from schemas import (
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    UnknownTopic,
    header_map,
    loads,
)

Start = Literal["beginning", "end"] | datetime
"""Where reading starts: the first retained record, the end (new records only), or a time."""

POLL_MS = 500
MAX_RECORDS = 500


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


async def topic_partitions(
    consumer: AIOKafkaConsumer, topic: str, settings: Settings
) -> list[TopicPartition]:
    """The partitions of ``topic``; a topic missing on the cluster is :class:`UnknownTopic`."""
    tps = await partitions_of(consumer, topic)
    if not tps:
        msg = (
            f"topic {topic} does not exist on Kafka at {settings.kafka_bootstrap}"
            " (`ixo up` or `ixo stack up` create the catalogue topics)"
        )
        raise UnknownTopic(msg)
    return tps


async def start_offsets(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: Start
) -> dict[TopicPartition, int]:
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    if isinstance(start, datetime):
        stamp = int(start.timestamp() * 1000)
        found = await consumer.offsets_for_times(dict.fromkeys(tps, stamp))
        return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}
    if start == "beginning":
        begins: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        return begins
    return ends


async def read_records(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    *,
    start: Start,
    follow: bool,
    starts: dict[TopicPartition, int] | None = None,
) -> AsyncGenerator[RawRecord, None]:
    """Records of ``tps`` from ``start`` (or explicit ``starts``), in order within a partition.

    Without ``follow`` it stops at the end offsets taken when it started; with ``follow`` it
    waits for new records until the caller stops iterating.
    """
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    positions = starts if starts is not None else await start_offsets(consumer, tps, start)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, positions.get(tp, ends[tp]))
    pending = {tp for tp in tps if positions.get(tp, ends[tp]) < ends[tp]}
    if not follow:
        done = [tp for tp in tps if tp not in pending]
        if done:
            consumer.pause(*done)
        if not pending:
            return
    while True:
        batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
        for tp, records in batches.items():
            for record in records:
                if not follow and record.offset >= ends[tp]:
                    break
                yield RawRecord.from_kafka(record)
        if not follow:
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
            if not pending:
                return
