"""Nonces of one signing account in one process: one asyncio lock and the next local nonce.

The lock is held from choosing a nonce until the node accepted (or refused) the transaction
signed with it, so nonces reach the node in order and a refused one is handed to the next send
instead of leaving a gap. The local counter is read from the node
(``eth_getTransactionCount(pending)``) on first use and again after the node says it is wrong
("nonce too low", "replacement underpriced": another process sent with this key) or after a
transaction was dropped or replaced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

NonceSource = Callable[[], Awaitable[int]]
"""The account's next nonce as the node sees it (pending transactions included)."""


class NonceSlot:
    """The nonce a send may use while it holds the manager's lock."""

    def __init__(self, manager: NonceManager, nonce: int) -> None:
        self._manager = manager
        self.nonce = nonce
        self.used = False

    def commit(self) -> None:
        """The node accepted a transaction with this nonce: the next send gets the next one."""
        self.used = True

    async def resync(self) -> int:
        """Read the nonce again from the node (it refused this one); returns the new nonce."""
        self.nonce = await self._manager.fetch()
        self._manager.resyncs += 1
        return self.nonce


class NonceManager:
    """Hands out distinct, gap-free nonces to concurrent sends of one account."""

    def __init__(self, source: NonceSource) -> None:
        self._source = source
        self._lock = asyncio.Lock()
        self._next: int | None = None
        self.resyncs = 0
        """How often the node had to correct us (a metric for tests and logs)."""

    async def fetch(self) -> int:
        return await self._source()

    @property
    def next_nonce(self) -> int | None:
        """The nonce the next send would get (None until first read from the node)."""
        return self._next

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[NonceSlot]:
        """Hold the lock and get a nonce; :meth:`NonceSlot.commit` it once the node took the
        transaction. An uncommitted slot (the send failed) gives its nonce to the next send."""
        async with self._lock:
            if self._next is None:
                self._next = await self.fetch()
            slot = NonceSlot(self, self._next)
            try:
                yield slot
            finally:
                if slot.used:
                    self._next = slot.nonce + 1
                elif slot.nonce != self._next:
                    # resynced but not sent: the node's count is the truth from here
                    self._next = slot.nonce

    async def invalidate(self) -> None:
        """Forget the local counter (a transaction was dropped or replaced): the next send
        reads it from the node again."""
        async with self._lock:
            self._next = None
            self.resyncs += 1
