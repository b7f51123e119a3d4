"""The chain listener: every watch of its chain followed from its checkpoint, one poll of the
head at a time.

Watch events arrive through :meth:`ChainListener.apply` (the Kafka feed folds the compacted
topic at start, then follows it); the poll loop picks changes up before its next poll. A watch
is followed by one process at a time (a lease in the checkpoint store, renewed every poll): a
second listener takes a watch over only after the first stopped renewing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from consumers.chain_listener._abi import LogDecoder
from consumers.chain_listener._errors import AbiUnavailable
from consumers.chain_listener._follower import StepResult, WatchFollower
from consumers.chain_listener._ranges import AdaptiveRange
from consumers.chain_listener._types import AbiSource, ChainRpc, Checkpoints, LogSink
from consumers.chain_listener._watches import Watch, WatchBook
from schemas import EventData, PermanentError, TransientError

log = logging.getLogger(__name__)

ABI_RETRY_S = 60.0
ERROR_PAUSE_S = 2.0
MAX_ERROR_PAUSE_S = 60.0


@dataclass(frozen=True)
class ListenerConfig:
    confirmations: int = 0
    poll_interval_s: float = 1.0
    max_range: int = 10_000
    max_logs: int = 10_000
    window: int = 128
    lease_s: float = 15.0


@dataclass
class _Pending:
    """Watch changes not yet applied by the poll loop (folded: last change per key wins)."""

    changes: dict[str, Watch | None] = field(default_factory=dict)
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class ChainListener:
    def __init__(
        self,
        chain_id: int,
        *,
        rpc: ChainRpc,
        checkpoints: Checkpoints,
        sink: LogSink,
        abis: AbiSource,
        owner: str,
        config: ListenerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain_id = chain_id
        self.rpc = rpc
        self.checkpoints = checkpoints
        self.sink = sink
        self.abis = abis
        self.owner = owner
        self.config = config or ListenerConfig()
        self.clock = clock
        self.book = WatchBook(chain_id)
        self.followers: dict[str, WatchFollower] = {}
        self._held: set[str] = set()
        self._unresolved: dict[str, float] = {}
        self._pending = _Pending()
        self._errors = 0

    # -- watches -------------------------------------------------------------------------------

    def apply(self, data: EventData) -> None:
        """Fold a watch event; the poll loop follows (or drops) the watch before its next poll."""
        change = self.book.apply(data)
        if isinstance(change, Watch):
            self._pending.changes[change.key] = change
        elif isinstance(change, str):
            self._pending.changes[change] = None
        else:
            return
        self._pending.woken.set()

    async def _decoder(self, watch: Watch) -> LogDecoder | None:
        if watch.abi is not None:
            return LogDecoder(list(watch.abi))
        if watch.artifact:
            return LogDecoder(await self.abis.abi(watch.artifact))
        return None

    async def _take_changes(self) -> None:
        changes, self._pending.changes = self._pending.changes, {}
        self._pending.woken.clear()
        retry = [k for k, at in self._unresolved.items() if self.clock() >= at and k not in changes]
        for key in retry:
            watch = self.book.watches.get(key)
            if watch is not None:
                changes[key] = watch
        for key, watch in changes.items():
            self._unresolved.pop(key, None)
            if watch is None:
                await self._drop(key)
                continue
            try:
                decoder = await self._decoder(watch)
            except AbiUnavailable as exc:
                log.error(  # noqa: TRY400 - the message is the whole story
                    "chain listener: %s not followed: %s", watch.address, exc
                )
                self._unresolved[key] = self.clock() + ABI_RETRY_S
                await self._drop(key)
                continue
            except TransientError as exc:
                log.warning("chain listener: the ABI of %s: %s; retrying", watch.address, exc)
                self._unresolved[key] = self.clock() + ERROR_PAUSE_S
                continue
            current = self.followers.get(key)
            if current is not None:
                current.watch, current.decoder = watch, decoder
                current.confirmations = self._confirmations(watch)
                log.info("chain listener: %s changed (ABI: %s)", watch.address, watch.abi_source)
                continue
            self.followers[key] = WatchFollower(
                watch,
                decoder,
                rpc=self.rpc,
                checkpoints=self.checkpoints,
                sink=self.sink,
                owner=self.owner,
                confirmations=self._confirmations(watch),
                window=self.config.window,
                ranges=AdaptiveRange(self.config.max_range, max_logs=self.config.max_logs),
                clock=self.clock,
            )

    def _confirmations(self, watch: Watch) -> int:
        return watch.confirmations if watch.confirmations is not None else self.config.confirmations

    async def _drop(self, key: str) -> None:
        follower = self.followers.pop(key, None)
        if follower is None:
            return
        log.info("chain listener: %s no longer followed", follower.watch.address)
        if key in self._held:
            self._held.discard(key)
            await self.checkpoints.release(key, self.owner)

    # -- polling -------------------------------------------------------------------------------

    async def _hold(self, follower: WatchFollower) -> bool:
        """Take or renew the watch's lease; a follower that (re)gains it reloads its state."""
        held = await self.checkpoints.claim(follower.key, self.owner, self.config.lease_s)
        if not held:
            self._held.discard(follower.key)
            follower.state = None
            return False
        if follower.key not in self._held:
            self._held.add(follower.key)
            follower.state = None  # another process may have moved it meanwhile
        return True

    async def poll(self) -> bool:
        """One pass over every watch; True when some watch has more blocks ready now."""
        await self._take_changes()
        if not self.followers:
            return False
        head = await self.rpc.head()
        busy = False
        now = self.clock()
        for follower in list(self.followers.values()):
            if follower.retry_at > now:
                continue
            try:
                if not await self._hold(follower):
                    continue
                result: StepResult = await follower.step(head)
            except (TransientError, PermanentError) as exc:
                # One watch's trouble (a node error on its range, a record Kafka refuses) pauses
                # that watch only; it resumes from its checkpoint.
                follower.errors += 1
                pause = min(MAX_ERROR_PAUSE_S, ERROR_PAUSE_S * 2 ** (follower.errors - 1))
                follower.retry_at = self.clock() + pause
                level = logging.ERROR if isinstance(exc, PermanentError) else logging.WARNING
                log.log(
                    level,
                    "chain listener: %s: %s; again in %.0fs",
                    follower.watch.address,
                    exc,
                    pause,
                )
                continue
            follower.errors = 0
            busy = busy or result.more
        return busy

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop``; node, Redis and Kafka errors are logged and retried with a
        growing pause; the leases are released at the end."""
        try:
            while not stop.is_set():
                try:
                    busy = await self.poll()
                    self._errors = 0
                except (TransientError, PermanentError) as exc:
                    log.warning("chain listener: %s; retrying", exc)
                    await self._pause(stop, self._backoff())
                    continue
                except Exception:
                    log.exception("chain listener: unexpected error; retrying")
                    await self._pause(stop, self._backoff())
                    continue
                if busy:
                    await asyncio.sleep(0)
                    continue
                await self._pause(stop, self.config.poll_interval_s)
        finally:
            for key in list(self._held):
                with contextlib.suppress(Exception):
                    await self.checkpoints.release(key, self.owner)
            self._held.clear()

    def _backoff(self) -> float:
        self._errors += 1
        return float(min(MAX_ERROR_PAUSE_S, ERROR_PAUSE_S * 2 ** (self._errors - 1)))

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds``, or less when stopped or a watch changed."""
        waits = {
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._pending.woken.wait()),
        }
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
