"""The real clock of a replay: UTC wall time, the event loop's monotonic time, asyncio sleep."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime


class SystemClock:
    """:class:`~producers.market._types.ReplayClock` on the machine's clocks."""

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
