"""Market data events."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from schemas._base import EventData
from schemas._types import NonNegativeDec, PositiveDec, Symbol, Timestamp


class MarketTickV1(EventData):
    """One price observation of a symbol on a venue."""

    event_type: ClassVar[str] = "ixo.market.tick.v1"
    key_field: ClassVar[str] = "symbol"

    symbol: Symbol
    price: PositiveDec
    volume: NonNegativeDec | None = None
    venue: str = Field(min_length=1, max_length=64, examples=["binance"])
    ts: Timestamp = Field(description="Exchange time of the observation")
