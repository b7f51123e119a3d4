"""The ``prices`` projection: the latest tick per symbol (newest exchange time wins, then the
later record)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import ClassVar

from consumers.projector._rows import Positioned, Row, order_key
from readmodels import Price, ReadModel
from schemas import MARKET_TICKS, MarketTickV1, Topic, decimal_str


def price_row(tick: MarketTickV1, event_id: str, partition: int, offset: int) -> Row:
    order = order_key(tick.ts, partition, offset)
    return Row(
        key=tick.symbol,
        order=order,
        doc={
            "_id": tick.symbol,
            "symbol": tick.symbol,
            "price": decimal_str(tick.price),
            "volume": None if tick.volume is None else decimal_str(tick.volume),
            "venue": tick.venue,
            "ts": tick.ts.astimezone(UTC),
            "event_id": event_id,
            "order": order,
        },
    )


class PricesProjection:
    """Maps ``ixo.market.tick.v1`` events to ``prices`` rows."""

    name: ClassVar[str] = "prices"
    topic: ClassVar[Topic] = MARKET_TICKS
    document: ClassVar[type[ReadModel]] = Price

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        out = []
        for item in items:
            tick = item.event.data
            if isinstance(tick, MarketTickV1):
                out.append(price_row(tick, item.event.id, item.partition, item.offset))
        return out
