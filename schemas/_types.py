"""Shared field types for event payloads: decimal strings, symbols, ids, timestamps."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, PlainSerializer


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        msg = (
            f'must be a decimal string like "{value!r}", not a JSON number (floats lose precision)'
        )
        raise ValueError(msg)  # noqa: TRY004 - pydantic turns ValueError into a field error
    return value


MAX_DECIMAL_DIGITS = 40
"""Digits a decimal may carry (trailing zeros included): enough for a 28-digit quotient or an
18-decimal token amount in the trillions."""
MAX_DECIMAL_MAGNITUDE = 40
"""A non-zero decimal lies between 1e-40 and 1e+41 in absolute value."""


def _bounded(value: Decimal) -> Decimal:
    """Refuse decimals whose plain notation would be huge (``"1e-2000000"`` is 2 MB of zeros).

    Zero in any notation (``"0E-2000000"``) becomes plain ``0``.
    """
    if not value.is_finite():
        return value  # allow_inf_nan=False refuses these with its own message
    if value.is_zero():
        return Decimal(0)
    # str() holds every digit (and a sign, point or exponent): short means few enough digits,
    # found without building the digit tuple (7x dearer) for every price on the hot path.
    if (
        len(str(value)) > MAX_DECIMAL_DIGITS
        and (digits := len(value.as_tuple().digits)) > MAX_DECIMAL_DIGITS
    ):
        msg = f"has {digits} digits; at most {MAX_DECIMAL_DIGITS} are allowed"
        raise ValueError(msg)
    _check_magnitude(value)
    return value


def _check_magnitude(value: Decimal) -> None:
    magnitude = value.adjusted()
    if not -MAX_DECIMAL_MAGNITUDE <= magnitude <= MAX_DECIMAL_MAGNITUDE:
        msg = (
            f"is out of range (about 1e{magnitude}): a decimal is 0 or between "
            f"1e-{MAX_DECIMAL_MAGNITUDE} and 1e+{MAX_DECIMAL_MAGNITUDE + 1} in absolute value"
        )
        raise ValueError(msg)


def decimal_str(value: Decimal) -> str:
    """Plain notation without trailing zeros: "64123.50" -> "64123.5", "1E+3" -> "1000".

    A value outside the schema's bounds (one built without validation) raises ``ValueError``
    rather than expanding to megabytes of zeros.
    """
    if value.is_zero():
        return "0"
    if value.is_finite():
        _check_magnitude(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# Every constraint pydantic-core checks natively (finite, gt, ge) sits on the bare ``Decimal``,
# before the Python validators wrap it: placed after them, pydantic applies it with a Python
# function per value instead (a tick has two decimals; the consume path decodes every one).
_NO_FLOAT = BeforeValidator(_no_float)
_BOUNDED = AfterValidator(_bounded)
_AS_STRING = PlainSerializer(decimal_str, return_type=str, when_used="json")

Dec = Annotated[Decimal, Field(allow_inf_nan=False), _NO_FLOAT, _BOUNDED, _AS_STRING]
"""A decimal carried as a JSON string ("64123.5"); JSON numbers that are floats are refused, and
so are decimals of more than 40 digits or beyond 1e±40 (their plain notation would be huge)."""

PositiveDec = Annotated[
    Decimal, Field(allow_inf_nan=False), Field(gt=0), _NO_FLOAT, _BOUNDED, _AS_STRING
]
NonNegativeDec = Annotated[
    Decimal, Field(allow_inf_nan=False), Field(ge=0), _NO_FLOAT, _BOUNDED, _AS_STRING
]

Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,20}$", examples=["BTCUSDT"])]
"""An exchange symbol: upper-case letters and digits, e.g. BTCUSDT."""

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@\-]+$")]
"""An entity identifier used as a Kafka key: no spaces or slashes."""

Timestamp = AwareDatetime
"""A timezone-aware instant; serialised as RFC 3339."""

EthAddress = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
HexHash = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
