"""The market feed runner: a tick source in, ``ixo.market.tick.v1`` events on Kafka out.

Each tick passes the per-symbol :class:`SequenceGuard` (duplicates and stale ticks after a
reconnect are dropped), is wrapped in a CloudEvent keyed by symbol and queued with
``EventPublisher.send``: many records stay in flight and their acknowledgements are collected in
bounded windows (every ``window`` ticks, or every ``flush_interval_s`` on a quiet feed), never one
at a time. On the stop event the source is closed and every queued tick is flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra.kafka import EventPublisher, make_broker
from infra.settings import Settings
from producers.market._ordering import SequenceGuard
from producers.market._source import open_source
from producers.market._types import SequencedTick, TickSource, TickTimes
from schemas import MARKET_TICKS, CloudEvent

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 1000
FLUSH_INTERVAL_S = 1.0
STATS_INTERVAL_S = 30.0


@dataclass
class FeedStats:
    """What one run did: ticks published (acknowledged by Kafka) and ticks dropped as not newer."""

    source: str
    published: int = 0
    duplicates: int = 0


def source_uri(source: TickSource) -> str:
    """The CloudEvents ``source`` of a feed's events."""
    return f"/producers/market/{source.name}"


class _Pump:
    """Moves ticks from a source to the publisher; owns the in-flight window and the stats."""

    def __init__(
        self,
        source: TickSource,
        publisher: EventPublisher,
        topic: str,
        *,
        window: int,
        flush_interval_s: float,
    ) -> None:
        self.source = source
        self.publisher = publisher
        self.topic = topic
        self.window = window
        self.flush_interval_s = flush_interval_s
        self.uri = source_uri(source)
        self.guard = SequenceGuard()
        self.stats = FeedStats(source=source.name)
        self.pending: list[asyncio.Future[Any]] = []
        self.stopping = False
        self.waiting = False
        self.clock = asyncio.get_running_loop()
        self.last_flush = self.last_stats = self.clock.time()

    async def run(self) -> None:
        """Publish ticks until the source ends or :meth:`request_stop` is called."""
        async with contextlib.aclosing(self.source.ticks()) as ticks:
            while not self.stopping:
                self.waiting = True
                try:
                    item = await anext(ticks)
                except StopAsyncIteration:
                    return
                finally:
                    self.waiting = False
                await self.publish(item)

    def request_stop(self) -> bool:
        """Stop after the tick being published, if any. True when the pump is waiting for the
        source instead: then cancelling it loses nothing, and the caller should."""
        self.stopping = True
        return self.waiting

    async def publish(self, item: SequencedTick) -> None:
        symbol = item.tick.symbol
        if not self.guard.admit(symbol, item.seq):
            self.stats.duplicates += 1
            log.debug(
                "dropped a tick that is not newer",
                extra={"source": self.source.name, "symbol": symbol, "seq": item.seq},
            )
            return
        event = CloudEvent.new(item.tick, source=self.uri)
        self.pending.append(await self.publisher.send(event, MARKET_TICKS))
        now = self.clock.time()
        if len(self.pending) >= self.window or now - self.last_flush >= self.flush_interval_s:
            self.last_flush = now
            await self.flush()
        if now - self.last_stats >= STATS_INTERVAL_S:
            self.last_stats = now
            self.log_stats("market feed progress")

    async def flush(self) -> None:
        """Wait for every queued tick's acknowledgement (shielded: a stop does not lose them)."""
        if not self.pending:
            return
        batch = self.pending[:]
        # The publisher's futures fail with TransientError / PermanentError, never Kafka's own.
        await asyncio.shield(asyncio.gather(*batch))
        del self.pending[: len(batch)]
        self.stats.published += len(batch)

    def log_stats(self, message: str) -> None:
        log.info(
            message,
            extra={
                "source": self.source.name,
                "topic": self.topic,
                "published": self.stats.published,
                "duplicates": self.stats.duplicates,
            },
        )


async def publish_ticks(
    source: TickSource,
    publisher: EventPublisher,
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    window: int = DEFAULT_WINDOW,
    flush_interval_s: float = FLUSH_INTERVAL_S,
) -> FeedStats:
    """Publish ``source``'s ticks with a started publisher until the source ends or ``stop`` is
    set; then flush what is in flight. Returns what was published."""
    if window < 1:
        msg = f"window must be >= 1, got {window}"
        raise ValueError(msg)
    pump = _Pump(
        source,
        publisher,
        MARKET_TICKS.full_name(settings.topic_prefix),
        window=window,
        flush_interval_s=flush_interval_s,
    )
    stop = stop or asyncio.Event()
    running = asyncio.create_task(pump.run(), name=f"market-feed-{source.name}")
    stopping = asyncio.create_task(stop.wait(), name="market-feed-stop")
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done() and pump.request_stop():
            running.cancel()  # it was waiting for the source: nothing in hand to lose
        with contextlib.suppress(asyncio.CancelledError):
            await running  # otherwise it stops right after the tick it is publishing
    finally:
        stopping.cancel()
        if not running.done():  # we are cancelled ourselves
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await pump.flush()  # also on errors: what was queued still gets its acknowledgement
    if not running.cancelled():
        running.result()  # re-raise what ended the source, if anything (after the flush)
    pump.log_stats("market feed stopped")
    return pump.stats


async def run_market_feed(
    settings: Settings,
    source: str | TickSource,
    symbols: Sequence[str] = (),
    *,
    stop: asyncio.Event | None = None,
    speed: float | None = None,
    loop: bool | None = None,
    times: TickTimes | None = None,
    url: str | None = None,
    window: int = DEFAULT_WINDOW,
) -> FeedStats:
    """Run a market feed until its source ends (a file replay without ``loop``) or ``stop``.

    ``source`` is a spec (``binance``, ``coinbase``, ``sample``, ``file:PATH``, each with optional
    ``?key=value`` options, see :func:`open_source`) or a ready :class:`TickSource`. ``speed``,
    ``loop`` and ``times`` apply to file replays (and the sample), ``url`` overrides an
    exchange's WebSocket URL. The source is
    validated before Kafka is contacted, so a bad spec, symbol or file raises
    :class:`SourceError` at once.
    """
    feed = (
        open_source(source, symbols, speed=speed, loop=loop, times=times, url=url)
        if isinstance(source, str)
        else source
    )
    broker = make_broker(settings, client_id=f"impressox-market-feed-{feed.name}")
    await broker.start()
    log.info(
        "market feed started",
        extra={"source": feed.name, "topic": MARKET_TICKS.full_name(settings.topic_prefix)},
    )
    try:
        return await publish_ticks(
            feed, EventPublisher(broker, settings), settings, stop=stop, window=window
        )
    finally:
        await broker.stop()
