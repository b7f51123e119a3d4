"""The event contracts: envelope, decimals, validation errors, catalogue, JSON Schema export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

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
        "ixo.chain.contracts",
        "ixo.chain.txs",
        # catalogue extensions, documented in docs/DESIGN.md
        "ixo.notify.subscriptions",
        "ixo.users.links",
        "ixo.users",
        "ixo.schedules",
        "ixo.tasks.due",
        "ixo.dlq.requeues",
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


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("1e-2000000", "out of range"),
        ("1e41", "out of range"),
        ("1." + "0" * 45, "at most 40"),
        ("0.00000000000000000000000000000000000000001", "out of range"),
    ],
)
def test_decimals_are_bounded_at_the_schema(price: str, message: str) -> None:
    data = {"symbol": "BTCUSDT", "price": price, "venue": "binance", "ts": NOW.isoformat()}
    with pytest.raises(InvalidEvent, match=message) as err:
        build_event(MARKET_TICKS, "ixo.market.tick.v1", data, source="/tests")
    assert err.value.field == "data.price"
    assert err.value.kind == "invalid_event"


def test_a_huge_exponent_in_a_record_is_refused_without_expanding_it() -> None:
    body = json.loads(encode(tick()))
    body["data"]["price"] = "1e-2000000"
    raw = json.dumps(body).encode()
    with pytest.raises(InvalidEvent) as err:
        codec_for(MARKET_TICKS).decode(raw)
    assert err.value.field == "data.price"
    assert len(str(err.value)) < 500


def test_bounded_decimals_keep_what_crypto_needs() -> None:
    smallest = tick(price="0.000000000000000001")  # one wei of ether
    assert json.loads(encode(smallest))["data"]["price"] == "0.000000000000000001"
    big = tick(price="123456789012345678.123456789012345678")
    assert codec_for(MARKET_TICKS).decode(encode(big)).data.price == Decimal(
        "123456789012345678.123456789012345678"
    )
    zero = MarketTickV1(symbol="BTCUSDT", price="1", volume="0E-2000000", venue="x", ts=NOW)
    assert zero.volume == 0
    assert json.loads(zero.model_dump_json())["volume"] == "0"


def test_decimal_str_refuses_what_would_expand_to_megabytes() -> None:
    assert schemas.decimal_str(Decimal("0E-2000000")) == "0"
    assert schemas.decimal_str(Decimal("1E+3")) == "1000"
    with pytest.raises(ValueError, match="out of range"):
        schemas.decimal_str(Decimal("1e-2000000"))


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_in_a_record_are_not_json(literal: bytes) -> None:
    raw = encode(tick()).replace(b'"binance"', b'"binance","score":' + literal, 1)
    assert literal in raw
    with pytest.raises(InvalidEvent) as err:
        codec_for(MARKET_TICKS).decode(raw)
    assert err.value.kind == "not_json"
    with pytest.raises(InvalidEvent) as err_any:
        decode_any(raw)
    assert err_any.value.kind == "not_json"


def test_nan_inside_a_string_is_just_text() -> None:
    data = MarketTickV1(symbol="BTCUSDT", price=Decimal(1), venue="NaN-Infinity", ts=NOW)
    event = CloudEvent.new(data, source="/tests")
    assert codec_for(MARKET_TICKS).decode(encode(event)).data.venue == "NaN-Infinity"


def test_helper_headers_are_outside_the_binary_mode_namespace() -> None:
    headers = schemas.envelope_headers("ixo.market.tick.v1", "e1")
    assert headers == {
        "content-type": "application/cloudevents+json; charset=UTF-8",
        "ixo-type": "ixo.market.tick.v1",
        "ixo-id": "e1",
    }
    assert not any(name.lower().startswith("ce_") for name in headers)
    legacy = [("ce_type", b"ixo.market.tick.v1"), ("ce_id", b"e0"), ("x-error", b"boom")]
    assert schemas.header_map(legacy) == {
        "ixo-type": "ixo.market.tick.v1",
        "ixo-id": "e0",
        "x-error": "boom",
    }


class _GaugeV1(schemas.EventData):
    event_type: ClassVar[str] = "ixo.test.gauge.v1"
    key_field: ClassVar[str] = "gauge_id"
    gauge_id: str
    value: int


class _GaugeV3(schemas.EventData):
    """v2 renamed ``value`` to ``reading``; v3 added ``unit`` (required)."""

    event_type: ClassVar[str] = "ixo.test.gauge.v3"
    key_field: ClassVar[str] = "gauge_id"
    gauge_id: str
    reading: int
    unit: str


def _gauges() -> tuple[schemas.Topic, schemas.Upcasters]:
    registry = schemas.Upcasters()
    registry.register(
        "ixo.test.gauge.v1", lambda d: {"gauge_id": d["gauge_id"], "reading": d["value"]}
    )

    @registry.upcaster("ixo.test.gauge.v2")
    def _v2_v3(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "unit": "celsius"}

    return schemas.Topic("ixo.test.gauges", "gauge_id", (_GaugeV3,), compacted=True), registry


def test_an_old_version_decodes_as_the_newest_through_every_step() -> None:
    topic, registry = _gauges()
    old = CloudEvent.new(_GaugeV1(gauge_id="g1", value=7), source="/tests")
    event = schemas.EventCodec(topic, registry).decode(encode(old))
    assert event.type == "ixo.test.gauge.v3"
    assert event.data == _GaugeV3(gauge_id="g1", reading=7, unit="celsius")
    assert (event.id, event.subject, event.source) == (old.id, "g1", "/tests")
    assert registry.latest("ixo.test.gauge.v1") == "ixo.test.gauge.v3"


def test_without_its_upcaster_an_old_version_is_an_unknown_type() -> None:
    topic, _ = _gauges()
    old = CloudEvent.new(_GaugeV1(gauge_id="g1", value=7), source="/tests")
    with pytest.raises(InvalidEvent) as err:
        schemas.EventCodec(topic, schemas.Upcasters()).decode(encode(old))
    assert err.value.kind == "unknown_type"


def test_an_upcaster_that_fails_makes_the_record_invalid_not_the_consumer() -> None:
    topic = schemas.Topic("ixo.test.gauges", "gauge_id", (_GaugeV3,))
    registry = schemas.Upcasters()
    registry.register("ixo.test.gauge.v2", lambda d: {**d, "unit": d["missing"]})
    registry.register("ixo.test.gauge.v1", lambda d: {"gauge_id": d["gauge_id"], "reading": 1})
    old = CloudEvent.new(_GaugeV1(gauge_id="g1", value=7), source="/tests")
    with pytest.raises(InvalidEvent, match=r"cannot upcast ixo\.test\.gauge\.v1: KeyError") as err:
        schemas.EventCodec(topic, registry).decode(encode(old))
    assert err.value.kind == "invalid_event"


def test_upcasters_only_go_one_version_up() -> None:
    registry = schemas.Upcasters()
    registry.register("ixo.test.gauge.v1", lambda d: d)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("ixo.test.gauge.v1", lambda d: d)
    with pytest.raises(ValueError, match=r"\.vN"):
        registry.register("ixo.test.gauge", lambda d: d)
    assert schemas.UPCASTERS.latest("ixo.market.tick.v1") == "ixo.market.tick.v1"
