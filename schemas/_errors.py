"""Our exception tree. Adapters map third-party errors into it at the edge."""

from __future__ import annotations

from typing import Literal

InvalidKind = Literal["not_json", "unknown_type", "invalid_event", "wrong_topic"]


class IxoError(Exception):
    """Base of every error Impressox raises on purpose."""


class InvalidEvent(IxoError):  # noqa: N818 - the name is part of the public vocabulary
    """An event (or bytes meant to be one) that fails its contract.

    ``kind`` says what failed; ``field`` names the first failing field (dotted) when known.
    """

    def __init__(self, message: str, *, kind: InvalidKind, field: str | None = None) -> None:
        super().__init__(message)
        self.kind: InvalidKind = kind
        self.field = field


class TransientError(IxoError):
    """A failure worth retrying (a broker or database briefly unavailable)."""


class PermanentError(IxoError):
    """A failure that retrying will not fix."""


class UnknownTopic(IxoError):  # noqa: N818
    """A topic name that is not in the catalogue."""
