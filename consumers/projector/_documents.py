"""Turning payloads into MongoDB documents: decimals as strings (exact; FerretDB has no
Decimal128), datetimes as BSON dates, tuples as arrays."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from schemas import decimal_str

_AS_IS: frozenset[type] = frozenset({str, int, float, bool, type(None), datetime})
"""Types stored as they are: skipped without a call (a replay converts millions of values)."""


def to_document(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return to_document(value.model_dump(mode="python"))
    if isinstance(value, Decimal):
        return decimal_str(value)
    if isinstance(value, dict):
        return {k: v if type(v) in _AS_IS else to_document(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if type(v) in _AS_IS else to_document(v) for v in value]
    return value


def offset_order(partition: int, offset: int) -> str:
    """Order of events of one key on one partition: the offset alone decides."""
    return f"{partition:05d}/{offset:020d}"
