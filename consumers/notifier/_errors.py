"""What a channel adapter raises: the third-party errors of aiogram, hikari and httpx end here
(mapped at the adapter), so the core never catches a library's exceptions."""

from __future__ import annotations

from schemas import IxoError


class DeliveryError(IxoError):
    """One attempt to deliver a notification failed."""


class RetryableDelivery(DeliveryError):  # noqa: N818 - a verdict, like the schemas' errors
    """Worth another attempt (5xx, timeout, connection refused, 429). ``retry_after`` is the
    wait the service asked for, in seconds, when it said so."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RejectedDelivery(DeliveryError):  # noqa: N818
    """Retrying will not help (bot blocked, chat not found, 404/410 webhook, no secret)."""
