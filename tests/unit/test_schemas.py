"""The event contracts: envelope, decimals, validation errors, catalogue, JSON Schema export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

import schemas
from schemas import (
    ALERT_RULES,
    CATALOGUE,
    CHAT_RESPONSES,
    MARKET_TICKS,
    AlertRuleCreatedV1,
    ChatResponseDeltaV1,
    CloudEvent,
    InvalidEvent,
    MarketTickV1,
    build_event,
    codec_for,
    decode_any,
    encode,
    export_schemas,
)

NOW = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)


def tick(symbol: str = "BTCUSDT", price: str = "64123.50") -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(symbol=symbol, price=Decimal(price), venue="binance", ts=NOW)
    return CloudEvent.new(data, source="/producers/market/binance")


def test_envelope_round_trip_keeps_every_attribute() -> None:
    event = tick()
    raw = encode(event)
    body = json.loads(raw)
    assert body["specversion"] == "1.0"
    assert body["type"] == "ixo.market.tick.v1"
    assert body["subject"] == "BTCUSDT"
    assert body["datacontenttype"] == "application/json"
    assert body["time"].endswith("Z")
    assert body["correlationid"] == body["id"]
    assert "causationid" not in body  # CloudEvents has no null attributes
    assert codec_for(MARKET_TICKS).decode(raw) == event


def test_ids_are_uuid7_and_time_ordered() -> None:
    first, second = tick(), tick()
    assert first.id[14] == "7"
    assert second.id[14] == "7"
    assert first.id < second.id


def test_money_is_a_decimal_string_on_the_wire() -> None:
    body = json.loads(encode(tick(price="64123.50")))
    assert body["data"]["price"] == "64123.5"
    big = json.loads(encode(tick(price="1E+3")))
    assert big["data"]["price"] == "1000"


def test_float_prices_are_refused_with_the_field() -> None:
    raw = encode(tick()).replace(b'"64123.5"', b"64123.5")
    with pytest.raises(InvalidEvent) as err:
        codec_for(MARKET_TICKS).decode(raw)
    assert err.value.kind == "invalid_event"
    assert err.value.field == "data.price"
    assert "decimal string" in str(err.value)


def test_causation_and_correlation_follow_the_cause() -> None:
    cause = tick()
    data = ChatResponseDeltaV1(session_id="s1", request_id="r1", seq=0, text="hi")
    effect = CloudEvent.new(data, source="/consumers/orchestrator", causation=cause)
    assert effect.causationid == cause.id
    assert effect.correlationid == cause.correlationid


@pytest.mark.parametrize(
    ("raw", "kind", "field"),
    [
        (b"\x00\xffnot json", "not_json", None),
        (b'{"type": "ixo.nope.v1", "data": {}}', "unknown_type", "type"),
        (b'{"type": "ixo.chat.response.delta.v1"}', "unknown_type", "type"),
        (b"[1, 2]", "invalid_event", None),
    ],
)
def test_bad_records_are_classified(raw: bytes, kind: str, field: str | None) -> None:
    with pytest.raises(InvalidEvent) as err:
        codec_for(MARKET_TICKS).decode(raw)
    assert err.value.kind == kind
    assert err.value.field == field


def test_subject_must_be_the_key() -> None:
    body = json.loads(encode(tick()))
    body["subject"] = "ETHUSDT"
    with pytest.raises(InvalidEvent) as err:
        codec_for(MARKET_TICKS).decode(json.dumps(body))
    assert err.value.field == "subject"


def test_multi_type_topic_decodes_each_type() -> None:
    codec = codec_for(CHAT_RESPONSES)
    data = ChatResponseDeltaV1(session_id="s1", request_id="r1", seq=3, text="x")
    event = codec.decode(encode(CloudEvent.new(data, source="/t")))
    assert isinstance(event.data, ChatResponseDeltaV1)
    assert event.data.seq == 3
    with pytest.raises(InvalidEvent) as err:
        codec.decode(encode(tick()))
    assert err.value.kind == "unknown_type"


def test_decode_any_finds_the_topic_by_type() -> None:
    assert isinstance(decode_any(encode(tick())).data, MarketTickV1)
    with pytest.raises(InvalidEvent):
        decode_any(b'{"type": "ixo.unknown.v1"}')


def test_build_event_names_the_failing_field() -> None:
    with pytest.raises(InvalidEvent) as err:
        build_event(
            MARKET_TICKS,
            "ixo.market.tick.v1",
            {"symbol": "BTCUSDT", "price": "-3", "venue": "x", "ts": "2026-01-01T00:00:00Z"},
            source="/cli",
        )
    assert err.value.field == "data.price"
    assert str(err.value).startswith("data.price:")


def test_build_event_refuses_a_type_of_another_topic() -> None:
    with pytest.raises(InvalidEvent) as err:
        build_event(ALERT_RULES, "ixo.market.tick.v1", {}, source="/cli")
    assert err.value.kind == "wrong_topic"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"kind": "pct_change", "threshold": "5"}, "window_s is required"),
        ({"kind": "above", "threshold": "5", "window_s": 60}, "applies to pct_change only"),
        ({"kind": "above", "threshold": "-1"}, "positive price"),
        ({"kind": "sideways", "threshold": "1"}, "Input should be"),
    ],
)
def test_rule_conditions_are_validated(condition: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        build_event(
            ALERT_RULES,
            "ixo.alert.rule.created.v1",
            {"rule_id": "r1", "user_id": "u1", "symbol": "BTCUSDT", "condition": condition},
            source="/cli",
        )
    assert message in str(err.value)


def test_catalogue_is_consistent_with_the_design() -> None:
    names = {t.name for t in CATALOGUE}
    assert names == {
        "ixo.chat.requests",
        "ixo.chat.responses",
        "ixo.market.ticks",
        "ixo.alerts.rules",
        "ixo.alerts.matches",
        "ixo.notify.deliveries",
        "ixo.social.posts",
        "ixo.rag.documents",
        "ixo.chain.watches",
        "ixo.chain.logs",
        # catalogue extensions, documented in docs/DESIGN.md
        "ixo.notify.subscriptions",
        "ixo.users.links",
        "ixo.schedules",
        "ixo.tasks.due",
    }
    assert ALERT_RULES.compacted
    assert ALERT_RULES.kafka_config()["cleanup.policy"] == "compact"
    assert MARKET_TICKS.kafka_config()["retention.ms"] == str(3 * 24 * 3600 * 1000)
    assert MARKET_TICKS.dlq.name == "ixo.market.ticks.dlq"
    assert CATALOGUE.topic("p.ixo.market.ticks.dlq", prefix="p.").is_dlq
    for topic in CATALOGUE:
        for payload in topic.event_types:
            assert payload.event_type.endswith(".v1")
            assert CATALOGUE.topic_for_type(payload.event_type) is topic
    assert AlertRuleCreatedV1.key_field == "rule_id"


def test_public_api_is_explicit() -> None:
    for name in schemas.__all__:
        assert hasattr(schemas, name), name


def test_schema_export_writes_valid_json_schemas(tmp_path: Path) -> None:
    written = export_schemas(tmp_path)
    assert len(written) == len(CATALOGUE.event_types) + 1
    schema = json.loads((tmp_path / "ixo.market.tick.v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(encode(tick())), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(encode(tick()).replace(b"ixo.market", b"ixo.other")), schema)
    for path in written:
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))
    catalogue = json.loads((tmp_path / "catalogue.json").read_text())
    assert {t["name"] for t in catalogue["topics"]} == {t.name for t in CATALOGUE}
