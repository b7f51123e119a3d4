"""Turning exchange message fields into a valid ``MarketTickV1`` (shared by the venue adapters).

Every failure becomes :class:`MalformedMessage` with a message naming the field, so the
connection logs the message and goes on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from producers.market._errors import MalformedMessage
from schemas import MarketTickV1, explain

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def json_object(raw: str | bytes) -> dict[str, Any]:
    """Parse one message that must be a JSON object."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = f"not JSON: {exc}"
        raise MalformedMessage(msg) from None
    if not isinstance(value, dict):
        msg = f"expected a JSON object, got {type(value).__name__}"
        raise MalformedMessage(msg)
    return value


def field(obj: dict[str, Any], name: str, kind: type[Any], where: str) -> Any:
    """``obj[name]``, which must be of ``kind`` (bools are not ints)."""
    if name not in obj:
        msg = f"{where}.{name}: missing"
        raise MalformedMessage(msg)
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        msg = f"{where}.{name}: expected {kind.__name__}, got {type(value).__name__}"
        raise MalformedMessage(msg)
    return value


def from_millis(ms: int) -> datetime:
    """Exchange epoch milliseconds to an aware UTC datetime (exact, no float rounding)."""
    return _EPOCH + timedelta(milliseconds=ms)


def make_tick(
    *, symbol: str, price: Any, volume: Any, venue: str, ts: datetime | str
) -> MarketTickV1:
    """A validated tick; prices and volumes stay decimal strings (never floats)."""
    try:
        return MarketTickV1.model_validate(
            {"symbol": symbol, "price": price, "volume": volume, "venue": venue, "ts": ts}
        )
    except ValidationError as err:
        raise MalformedMessage(explain(err)) from None
