"""The bots' errors, within Impressox's exception tree."""

from __future__ import annotations

from schemas import PermanentError, TransientError


class BotConfigError(PermanentError):
    """The bot cannot start as configured (missing or refused token, bad public key)."""


class DeliveryBusy(TransientError):  # noqa: N818 - reads as a state, like the schema errors
    """Another handler is working on the same delivery right now."""
