"""``--where``: the filter expression over raw records (no services)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from cli._errors import UsageError
from cli._records import RawRecord
from cli._where import Fields, Where, dec, ts


def tick(symbol: str = "BTCUSDT", price: str = "71000.5", **extra: Any) -> RawRecord:
    event = {
        "specversion": "1.0",
        "id": "01J0000000000000000000000",
        "type": "ixo.market.tick.v1",
        "source": "/producers/market/binance",
        "time": "2024-05-01T12:00:00Z",
        "subject": symbol,
        "datacontenttype": "application/json",
        "data": {"symbol": symbol, "price": price, "venue": "binance", **extra},
        "correlationid": "corr-1",
    }
    return RawRecord.parse(
        orjson.dumps(event),
        topic="ixo.market.ticks",
        partition=2,
        offset=41,
        key=symbol,
        headers={"ixo-type": "ixo.market.tick.v1"},
    )


def test_the_documented_example_matches_on_decimal_prices() -> None:
    where = Where("data.symbol == 'BTCUSDT' and dec(data.price) > 70000")
    assert where.matches(tick())
    assert not where.matches(tick(price="69999.99"))
    assert not where.matches(tick(symbol="ETHUSDT"))


def test_dot_and_item_access_both_reach_nested_fields() -> None:
    record = tick(condition={"kind": "above", "threshold": "1"}, tags=[{"k": "v"}])
    assert Where("data['symbol'] == data.symbol == 'BTCUSDT'").matches(record)
    assert Where("data.condition.kind == 'above' and data['condition']['kind'] == 'above'").matches(
        record
    )
    assert Where("data.tags[0].k == 'v'").matches(record)
    assert Where("data.condition == {'kind': 'above', 'threshold': '1'}").matches(record)
    assert Where("'venue' in data and 'nope' not in data").matches(record)


def test_keys_named_like_dict_methods_are_fields() -> None:
    record = tick(items="x", keys="y")
    assert Where("data.items == 'x' and data.keys == 'y'").matches(record)


def test_missing_fields_read_as_none() -> None:
    assert Where("data.volume is None").matches(tick())
    assert Where("causationid is None").matches(tick())


def test_envelope_and_record_names() -> None:
    record = tick()
    assert Where("type == 'ixo.market.tick.v1' and subject == 'BTCUSDT'").matches(record)
    assert Where("source.startswith('/producers/') and correlationid == 'corr-1'").matches(record)
    assert Where("partition == 2 and offset == 41 and key == 'BTCUSDT'").matches(record)
    assert Where("headers['ixo-type'] == type").matches(record)
    assert Where("ts(time) > ts('2024-01-01T00:00:00Z')").matches(record)
    assert not Where("ts(time) > ts('2025-01-01')").matches(record)


def test_a_record_that_is_not_json_never_matches() -> None:
    raw = RawRecord.parse(b"not json at all", key=b"k")
    assert raw.event is None
    assert not Where("True").matches(raw)


def test_an_expression_that_raises_on_a_record_does_not_match_and_is_reported() -> None:
    where = Where("data.price > 1")  # a decimal string compared with an int
    assert not where.matches(tick())
    assert where.failures == 1
    assert where.first_failure is not None
    assert "p2@41" in where.first_failure
    assert "TypeError" in where.first_failure


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("data.symbol ==", "invalid --where expression"),
        ("price > 1", "unknown name 'price'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("data.__class__", "not allowed"),
        ("(x := 1)", "NamedExpr is not supported"),
        ("lambda: 1", "Lambda is not supported"),
        ("data.symbol = 'x'", "invalid --where expression"),
        ("", "empty --where expression"),
        ("{x for x in data}", "SetComp is not supported"),
    ],
)
def test_invalid_expressions_are_refused_before_any_record(expression: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Where(expression)


def test_comprehension_variables_are_known_names() -> None:
    assert Where("len([t for t in data.tags if t == 'a']) == 1").matches(tick(tags=["a", "b"]))


def test_dec_and_ts_helpers() -> None:
    assert dec("64123.50") == Decimal("64123.50")
    assert dec(3) == Decimal(3)
    assert dec(0.1) == Decimal("0.1")
    with pytest.raises(ValueError, match="not a decimal"):
        dec("abc")
    with pytest.raises(TypeError):
        dec(None)
    assert ts("2024-05-01T12:00:00Z") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert ts("2024-05-01T12:00:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO 8601"):
        ts("yesterday")


def test_fields_behave_like_a_read_only_mapping() -> None:
    fields = Fields({"a": 1, "b": {"c": 2}})
    assert len(fields) == 2
    assert list(fields) == ["a", "b"]
    assert fields.b.c == 2
    assert fields == {"a": 1, "b": {"c": 2}}
