"""One watch followed block by block: publish its logs behind the confirmation depth, then
advance its checkpoint; retract what a reorg abandoned.

A step (:meth:`WatchFollower.step`):

1. **Reorg check.** The last published block of the reorg window must still be canonical (its
   hash). If not, walk back through the window's hashes to the newest block that still is (the
   fork point), publish every stored log above it again with ``removed=true``, and move the
   checkpoint back to the fork point (next step publishes the canonical branch).
2. **Logs.** ``eth_getLogs`` from the checkpoint over the adaptive span, never beyond
   ``head - confirmations``; a refused range halves and is asked again (no block is skipped).
3. **Consistency.** For blocks within the reorg window of the head, the headers are fetched:
   they must link to each other and to the last published block (parent hashes), and every log
   must carry its block's hash; otherwise the chain moved during the step and it is redone.
4. **Publish, then checkpoint.** Every event is in flight at once and all acks awaited; only
   then the checkpoint moves (with the window's hashes and published payloads, atomically). A
   crash in between publishes the same logs again with the same ids (consumers drop them).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from consumers.chain_listener._abi import LogDecoder
from consumers.chain_listener._errors import RangeRefused
from consumers.chain_listener._events import observed, retraction, wrap
from consumers.chain_listener._ranges import AdaptiveRange
from consumers.chain_listener._types import (
    BlockHeader,
    ChainRpc,
    Checkpoints,
    LogSink,
    RawLog,
    WatchState,
)
from consumers.chain_listener._watches import Watch
from schemas import TransientError

log = logging.getLogger(__name__)


class LeaseLost(TransientError):  # noqa: N818 - reads as what happened
    """Another process took the watch over (this one stalled past its lease)."""


@dataclass(frozen=True)
class StepResult:
    published: int = 0
    retracted: int = 0
    more: bool = False
    """More blocks are ready now (a backfill, a refused range, a chain that moved mid-step)."""


CAUGHT_UP: Final = StepResult()
AGAIN: Final = StepResult(more=True)


class WatchFollower:
    def __init__(
        self,
        watch: Watch,
        decoder: LogDecoder | None,
        *,
        rpc: ChainRpc,
        checkpoints: Checkpoints,
        sink: LogSink,
        owner: str,
        confirmations: int,
        window: int,
        ranges: AdaptiveRange,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watch = watch
        self.decoder = decoder
        self.rpc = rpc
        self.checkpoints = checkpoints
        self.sink = sink
        self.owner = owner
        self.confirmations = confirmations
        self.window = window
        self.ranges = ranges
        self.clock = clock
        self.state: WatchState | None = None
        self.published = 0
        self.retracted = 0
        self.errors = 0
        self.retry_at = 0.0

    @property
    def key(self) -> str:
        return self.watch.key

    async def load(self, head: int) -> WatchState:
        """The watch's checkpoint; a new watch starts at ``from_block`` or, without one, at the
        first block not yet confirmed (its start is saved at once, so a restart keeps it)."""
        state = await self.checkpoints.load(self.key)
        if state is None:
            start = self.watch.from_block
            if start is None:
                start = max(0, head - self.confirmations + 1)
            state = WatchState(next_block=start)
            await self._commit(state, {}, ())
            log.info(
                "chain listener: following %s from block %d (ABI: %s)",
                self.watch.address,
                start,
                self.watch.abi_source,
            )
        self.state = state
        return state

    async def _commit(
        self, state: WatchState, added: dict[int, list[str]], dropped: tuple[int, ...] | list[int]
    ) -> None:
        if not await self.checkpoints.commit(
            self.key, self.owner, state, added=added, dropped=dropped
        ):
            self.state = None
            msg = f"the lease of {self.watch.address} was taken over by another listener"
            raise LeaseLost(msg)
        self.state = state

    async def step(self, head: int) -> StepResult:
        state = self.state if self.state is not None else await self.load(head)
        if state.hashes:
            top, top_hash = state.hashes[-1]
            found = (await self.rpc.headers([top])).get(top)
            if found is None or found.hash != top_hash:
                return await self._retract(state)
        target = head - self.confirmations
        first = state.next_block
        if first > target:
            return CAUGHT_UP
        last = min(target, first + self.ranges.span - 1)
        asked = last - first + 1
        started = self.clock()
        try:
            logs = await self.rpc.logs(self.watch.address, first, last)
        except RangeRefused as exc:
            if asked == 1:
                raise  # one block is too much for this node: the watch pauses and retries
            self.ranges.refused(asked)
            log.info(
                "chain listener: %s: %d blocks refused (%s); asking %d",
                self.watch.address,
                asked,
                exc,
                self.ranges.span,
            )
            return AGAIN
        self.ranges.served(asked, len(logs), self.clock() - started)
        recent_from = max(first, head - self.window + 1)
        headers: dict[int, BlockHeader] = {}
        if recent_from <= last:
            headers = await self.rpc.headers(range(recent_from, last + 1))
            if not self._consistent(state, headers, recent_from, last, logs):
                return CAUGHT_UP  # the chain moved under the step: again after the pause
        logs.sort(key=lambda lg: (lg.block_number, lg.log_index))
        chain_id = self.watch.chain_id
        payloads = [observed(chain_id, self.watch.address, lg, self.decoder) for lg in logs]
        if payloads:
            await self.sink.publish([wrap(p, generation=state.generation) for p in payloads])
        keep_from = head - self.window + 1
        added: dict[int, list[str]] = defaultdict(list)
        for payload in payloads:
            if payload.block_number in headers:
                added[payload.block_number].append(payload.model_dump_json())
        hashes = tuple(
            (n, h)
            for n, h in (*state.hashes, *((n, headers[n].hash) for n in sorted(headers)))
            if n >= keep_from
        )
        dropped = [n for n, _ in state.hashes if n < keep_from]
        await self._commit(
            WatchState(next_block=last + 1, generation=state.generation, hashes=hashes),
            dict(added),
            dropped,
        )
        self.published += len(payloads)
        return StepResult(published=len(payloads), more=last < target)

    def _consistent(
        self,
        state: WatchState,
        headers: dict[int, BlockHeader],
        first: int,
        last: int,
        logs: list[RawLog],
    ) -> bool:
        """Whether the headers of ``first..last`` form one chain on top of the last published
        block, and every recent log is in it; False: the chain moved during the step."""
        previous = (
            state.hashes[-1][1] if state.hashes and state.hashes[-1][0] == first - 1 else None
        )
        for number in range(first, last + 1):
            header = headers.get(number)
            if header is None or (previous is not None and header.parent_hash != previous):
                log.info(
                    "chain listener: %s: block %d changed during the step; again",
                    self.watch.address,
                    number,
                )
                return False
            previous = header.hash
        for lg in logs:
            header = headers.get(lg.block_number)
            if header is not None and header.hash != lg.block_hash:
                return False
        return True

    async def _retract(self, state: WatchState) -> StepResult:
        """The last published block is no longer canonical: retract down to the fork point."""
        numbers = [n for n, _ in state.hashes]
        canonical = await self.rpc.headers(numbers)
        fork: int | None = None
        for number, known in reversed(state.hashes):
            header = canonical.get(number)
            if header is not None and header.hash == known:
                fork = number
                break
        if fork is None:
            fork = numbers[0] - 1
            log.error(
                "chain listener: %s: a reorg deeper than the window of %d blocks: retracting"
                " the window, logs below block %d are not checked",
                self.watch.address,
                self.window,
                numbers[0],
            )
        gone = [n for n in numbers if n > fork]
        stored = await self.checkpoints.window_logs(self.key, gone)
        events = [wrap(retraction(s), generation=state.generation) for s in stored]
        if events:
            await self.sink.publish(events)
        log.warning(
            "chain listener: %s: reorg at block %d (%d blocks abandoned): %d logs retracted",
            self.watch.address,
            fork + 1,
            len(gone),
            len(events),
        )
        await self._commit(
            WatchState(
                next_block=fork + 1,
                generation=state.generation + 1,
                hashes=tuple((n, h) for n, h in state.hashes if n <= fork),
            ),
            {},
            gone,
        )
        self.retracted += len(events)
        return StepResult(retracted=len(events), more=True)
