"""Prices and fired alerts, as every client reads them."""

from __future__ import annotations

from readmodels import Alert, Price, ReadModels
from schemas import normalise_symbol


class PriceService:
    def __init__(self, reads: ReadModels) -> None:
        self._reads = reads

    async def get(self, symbol: str) -> Price | None:
        """The latest price of ``symbol`` as typed (``btc`` finds ``BTCUSDT``); ValueError when
        it is not a symbol at all."""
        return await self._reads.price(normalise_symbol(symbol))

    async def all(self) -> list[Price]:
        return await self._reads.prices()


class AlertService:
    def __init__(self, reads: ReadModels) -> None:
        self._reads = reads

    async def recent(
        self, user_id: str, *, limit: int = 100, symbol: str | None = None
    ) -> list[Alert]:
        """The user's fired alerts, newest first."""
        return await self._reads.alerts(
            user_id, limit=limit, symbol=normalise_symbol(symbol) if symbol else None
        )
