"""Shared field types for event payloads: decimal strings, symbols, ids, timestamps."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, PlainSerializer


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        msg = (
            f'must be a decimal string like "{value!r}", not a JSON number (floats lose precision)'
        )
        raise ValueError(msg)  # noqa: TRY004 - pydantic turns ValueError into a field error
    return value


def decimal_str(value: Decimal) -> str:
    # Normalise without switching to exponent notation: "64123.50" -> "64123.5", "1E+3" -> "1000".
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


Dec = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(allow_inf_nan=False),
    PlainSerializer(decimal_str, return_type=str, when_used="json"),
]
"""A decimal carried as a JSON string ("64123.5"); JSON numbers that are floats are refused."""

PositiveDec = Annotated[Dec, Field(gt=0)]
NonNegativeDec = Annotated[Dec, Field(ge=0)]

Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,20}$", examples=["BTCUSDT"])]
"""An exchange symbol: upper-case letters and digits, e.g. BTCUSDT."""

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@\-]+$")]
"""An entity identifier used as a Kafka key: no spaces or slashes."""

Timestamp = AwareDatetime
"""A timezone-aware instant; serialised as RFC 3339."""

EthAddress = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
HexHash = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
