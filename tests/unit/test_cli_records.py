"""Raw records as the CLI shows them, and ``--since`` parsing (no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from cli._cmd_dlq import requeue_headers, skip_reason
from cli._errors import UsageError
from cli._records import RawRecord, row_of, summarize
from cli._times import parse_since
from schemas import MARKET_TICKS

DLQ_HEADERS = {
    "content-type": "application/cloudevents+json; charset=UTF-8",
    "ixo-type": "ixo.market.tick.v1",
    "x-error": "data.price: Input should be greater than 0",
    "x-error-type": "invalid_event",
    "x-source-topic": "ixo.market.ticks",
    "x-source-partition": "2",
    "x-source-offset": "17",
}


def test_a_dead_letter_row_carries_its_error_and_origin() -> None:
    value = orjson.dumps(
        {"type": "ixo.market.tick.v1", "subject": "BTCUSDT", "data": {"price": "-1"}}
    )
    record = RawRecord.parse(value, partition=1, offset=5, headers=DLQ_HEADERS, timestamp_ms=0)
    row = row_of(record)
    assert row.error_type == "invalid_event"
    assert row.error == "data.price: Input should be greater than 0"
    assert row.source == "ixo.market.ticks[2]@17"
    assert row.position == "p1@5"
    assert row.summary == "price=-1"
    assert row.time == "1970-01-01T00:00:00.000Z"
    described = record.as_dict()
    assert described["source_offset"] == 17
    assert described["value"]["subject"] == "BTCUSDT"


def test_bytes_that_are_not_json_are_kept_as_text() -> None:
    record = RawRecord.parse(b"\xffgarbage", headers=DLQ_HEADERS)
    assert record.event is None
    row = row_of(record)
    assert row.raw is not None
    assert "garbage" in row.raw
    assert record.as_dict()["value"].endswith("garbage")


def test_summaries_are_compact_and_clipped() -> None:
    assert (
        summarize({"a": "x", "b": None, "c": {"d": 1}, "e": True}) == 'a=x b=null c={"d":1} e=true'
    )
    assert len(summarize({"t": "y" * 500}, width=40)) == 40


def test_requeue_drops_only_the_dead_letter_headers() -> None:
    record = RawRecord.parse(b"{}", headers={**DLQ_HEADERS, "ixo-id": "e1"}, partition=2, offset=7)
    assert requeue_headers(record, MARKET_TICKS.dlq) == {
        "content-type": "application/cloudevents+json; charset=UTF-8",
        "ixo-type": "ixo.market.tick.v1",
        "ixo-id": "e1",
        "ixo-requeue-of": "ixo.market.ticks.dlq:2:7",
    }
    assert skip_reason(record, "ixo.market.ticks") is None
    assert "not t1.ixo.market.ticks" in (skip_reason(record, "t1.ixo.market.ticks") or "")
    assert skip_reason(RawRecord.parse(b"{}"), "ixo.market.ticks") == "no x-source-topic header"


def test_since_takes_iso_times_and_durations() -> None:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_since("15m", now=now) == now - timedelta(minutes=15)
    assert parse_since("2h", now=now) == now - timedelta(hours=2)
    assert parse_since("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_since("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_since("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="--since"):
        parse_since("yesterday")


def test_legacy_helper_headers_are_read_under_their_current_names() -> None:
    legacy = {"ce_type": "ixo.market.tick.v1", "ce_id": "e1", "x-error-type": "invalid_event"}
    record = RawRecord.parse(b"{}", headers=legacy)
    assert record.headers == {
        "ixo-type": "ixo.market.tick.v1",
        "ixo-id": "e1",
        "x-error-type": "invalid_event",
    }
    assert requeue_headers(record, MARKET_TICKS.dlq) == {
        "ixo-type": "ixo.market.tick.v1",
        "ixo-id": "e1",
        "ixo-requeue-of": "ixo.market.ticks.dlq:0:0",
    }
    assert not any(k.startswith("ce_") for k in requeue_headers(record, MARKET_TICKS.dlq))


def test_a_requeued_copy_is_for_the_group_that_failed_it_alone() -> None:
    failed_by = {**DLQ_HEADERS, "x-consumer-group": "ixo.rule-engine", "ixo-requeued-for": "old"}
    headers = requeue_headers(RawRecord.parse(b"{}", headers=failed_by), MARKET_TICKS.dlq)
    assert headers["ixo-requeued-for"] == "ixo.rule-engine"
    assert "x-consumer-group" not in headers


def test_a_current_helper_header_wins_over_a_legacy_one() -> None:
    record = RawRecord.parse(b"{}", headers={"ce_type": "old", "ixo-type": "new"})
    assert record.headers == {"ixo-type": "new"}
