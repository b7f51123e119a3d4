"""The market feeds' exceptions (under the project's ``IxoError`` tree)."""

from __future__ import annotations

from schemas import IxoError, PermanentError


class MarketFeedError(IxoError):
    """Base of every error the market feeds raise on purpose."""


class SourceError(MarketFeedError, PermanentError):
    """A source that cannot run as given: an unknown source name or option, a bad symbol, an
    unreadable replay file or a bad line in it. The message says what to fix."""


class MalformedMessage(MarketFeedError):  # noqa: N818 - named after what it is, like InvalidEvent
    """An exchange message that cannot be normalised into a tick (logged and skipped)."""


class VenueError(MarketFeedError):
    """An error the exchange reported on the stream (logged; the connection goes on)."""
