"""In-process implementations of the agent's stores: for a single process without Redis or
MongoDB (the CLI, unit tests). Nothing survives the process."""

from __future__ import annotations

import time
from typing import Final

from agent._state import AgentState

DEFAULT_CHECKPOINT_TTL_S: Final = 7 * 24 * 3600


class MemoryCheckpointStore:
    """:class:`CheckpointStore` in a dict."""

    def __init__(self, *, ttl_s: int = DEFAULT_CHECKPOINT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[float, str]] = {}

    async def load(self, request_id: str) -> AgentState | None:
        item = self._items.get(request_id)
        if item is None or item[0] <= time.monotonic():
            return None
        return AgentState.model_validate_json(item[1])

    async def save(self, state: AgentState) -> bool:
        current = await self.load(state.request_id)
        if current is not None and current.step >= state.step:
            return False
        self._items[state.request_id] = (time.monotonic() + self.ttl_s, state.model_dump_json())
        return True

    async def delete(self, request_id: str) -> None:
        self._items.pop(request_id, None)


class MemoryToolResultCache:
    """:class:`ToolResultCache` in a dict."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str]] = {}

    async def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None or item[0] <= time.monotonic():
            return None
        return item[1]

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        self._items[key] = (time.monotonic() + max(1, ttl_s), value)
