"""One reconnecting WebSocket connection to an exchange, shared by every venue adapter.

The venue (``_binance``, ``_coinbase``) knows the URL, the subscription messages and how to
normalise a message; this module owns the connection: keepalive pings (the websockets library
answers the exchange's pings and sends its own, closing the connection when a pong is late), a
receive timeout that treats a silent connection as dead, and reconnection with exponential
backoff and jitter. Ticks resent after a reconnect are removed downstream by the runner's
:class:`~producers.market._ordering.SequenceGuard`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException
from websockets.uri import parse_uri

from producers.market._backoff import Backoff
from producers.market._errors import MalformedMessage, SourceError, VenueError
from producers.market._types import SequencedTick

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1 << 20
_MAX_LOGGED_MESSAGE = 200


class Venue(Protocol):
    """What a venue adapter tells the connection: where to connect, what to send, how to read."""

    @property
    def name(self) -> str: ...

    def url(self, symbols: Sequence[str]) -> str:
        """The WebSocket URL to connect to for these symbols."""
        ...

    def subscriptions(self, symbols: Sequence[str]) -> list[str]:
        """Text messages to send right after connecting (may be empty)."""
        ...

    def parse(self, raw: str | bytes) -> list[SequencedTick]:
        """The ticks in one message ([] for control messages such as heartbeats).

        Raises :class:`MalformedMessage` for a message that cannot be normalised and
        :class:`VenueError` for an error the exchange reports.
        """
        ...


@dataclass(frozen=True)
class ConnectionOptions:
    """Timeouts and the reconnect policy of an exchange connection."""

    receive_timeout_s: float = 60.0
    """No message for this long means the connection is dead: close it and reconnect."""
    ping_interval_s: float | None = 20.0
    """Send a WebSocket ping this often (None: only answer the exchange's pings)."""
    ping_timeout_s: float | None = 20.0
    """Close the connection when a pong does not come back within this time."""
    open_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    backoff: Backoff = field(default_factory=Backoff)


class _Silent(Exception):  # noqa: N818 - private control flow
    pass


def check_ws_url(url: str) -> str:
    """``url`` if it is a ws:// or wss:// URL, else :class:`SourceError`."""
    try:
        parse_uri(url)
    except InvalidURI as exc:
        msg = f"not a WebSocket URL (ws:// or wss://): {url!r} ({exc})"
        raise SourceError(msg) from None
    return url


def _preview(raw: str | bytes) -> str:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return text[:_MAX_LOGGED_MESSAGE]


class WebSocketSource:
    """A :class:`~producers.market._types.TickSource` reading one venue over WebSocket, forever.

    ``connections`` counts successful connections (the first one and each reconnect).
    """

    def __init__(
        self,
        venue: Venue,
        symbols: Sequence[str],
        options: ConnectionOptions | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if not symbols:
            msg = f"{venue.name}: no symbols to subscribe to"
            raise SourceError(msg)
        self._venue = venue
        self._symbols = list(symbols)
        self._options = options or ConnectionOptions()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._url = check_ws_url(venue.url(self._symbols))
        self.connections = 0

    @property
    def name(self) -> str:
        return self._venue.name

    @property
    def url(self) -> str:
        return self._url

    def _read(self, raw: str | bytes) -> list[SequencedTick] | None:
        """The ticks of one message, or None (logged) when it is malformed or an error."""
        try:
            return self._venue.parse(raw)
        except MalformedMessage as exc:
            log.warning(
                "skipped a malformed exchange message",
                extra={"venue": self.name, "error": str(exc), "raw": _preview(raw)},
            )
        except VenueError as exc:
            log.error("exchange reported an error", extra={"venue": self.name, "error": str(exc)})  # noqa: TRY400
        return None

    async def ticks(self) -> AsyncGenerator[SequencedTick, None]:
        opts = self._options
        attempt = 0
        ctx = {"venue": self.name, "url": self._url}
        while True:
            try:
                async with connect(
                    self._url,
                    open_timeout=opts.open_timeout_s,
                    ping_interval=opts.ping_interval_s,
                    ping_timeout=opts.ping_timeout_s,
                    close_timeout=opts.close_timeout_s,
                    max_size=MAX_MESSAGE_BYTES,
                ) as ws:
                    self.connections += 1
                    log.info(
                        "connected to exchange",
                        extra={**ctx, "connection": self.connections, "symbols": self._symbols},
                    )
                    for text in self._venue.subscriptions(self._symbols):
                        await ws.send(text)
                    while True:
                        try:
                            raw = await asyncio.wait_for(ws.recv(), opts.receive_timeout_s)
                        except TimeoutError:
                            raise _Silent from None
                        items = self._read(raw)
                        if items is None:
                            continue
                        attempt = 0  # a healthy message: the next outage starts a fresh backoff
                        for item in items:
                            yield item
            except _Silent:
                log.warning(
                    "connection silent; reconnecting",
                    extra={**ctx, "receive_timeout_s": opts.receive_timeout_s},
                )
            except ConnectionClosed as exc:
                log.warning(
                    "connection closed; reconnecting",
                    extra={**ctx, "code": exc.rcvd.code if exc.rcvd else None, "error": str(exc)},
                )
            except (OSError, TimeoutError, WebSocketException) as exc:
                log.warning(
                    "cannot connect to exchange",
                    extra={**ctx, "error": str(exc) or type(exc).__name__},
                )
            delay = opts.backoff.delay(attempt, self._rng.random)
            attempt += 1
            log.info(
                "reconnect scheduled", extra={**ctx, "attempt": attempt, "delay_s": round(delay, 3)}
            )
            await asyncio.sleep(delay)
