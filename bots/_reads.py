"""What the bots read: the ``prices``, ``rules`` and ``alerts`` read models (Beanie documents of
the projector; ``infra.mongo.init_read_models`` must have run). MongoDB errors become
:class:`TransientError` here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo.errors import PyMongoError

from bots._types import AlertView, PriceView
from consumers.projector import Alert, Price
from schemas import TransientError


@asynccontextmanager
async def mongo_errors() -> AsyncIterator[None]:
    try:
        yield
    except PyMongoError as exc:
        msg = f"MongoDB unavailable: {exc}"
        raise TransientError(msg) from None


class ReadModels:
    """:class:`bots.MarketReads` over the projector's read models."""

    async def price(self, symbol: str) -> PriceView | None:
        async with mongo_errors():
            doc = await Price.get(symbol)
        if doc is None:
            return None
        return PriceView(symbol=doc.symbol, price=doc.price, venue=doc.venue, ts=doc.ts)

    async def recent_alerts(self, user_id: str, limit: int) -> list[AlertView]:
        async with mongo_errors():
            docs = (
                await Alert.find(Alert.user_id == user_id)
                .sort(-Alert.triggered_at)  # type: ignore[operator]
                .limit(limit)
                .to_list()
            )
        return [
            AlertView(
                rule_id=a.rule_id, symbol=a.symbol, price=a.price, triggered_at=a.triggered_at
            )
            for a in docs
        ]
