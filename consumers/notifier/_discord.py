"""Discord adapter: hikari's REST client (``RESTApp`` with a configurable API URL). hikari waits
out short rate limits itself, following ``X-RateLimit-*`` headers and 429 ``retry_after``; a
longer one (over ``max_rate_limit_s``) comes back to the notifier as retryable with its
``retry_after``, so the notifier's backoff, not a blocked client, waits it out."""

from __future__ import annotations

import hikari

from consumers.notifier._errors import RejectedDelivery, RetryableDelivery
from consumers.notifier._render import event_text
from consumers.notifier._types import Job

MAX_CONTENT = 2000
RETRYABLE_4XX = frozenset({408, 429})


class DiscordSender:
    """Posts the notification text to the channel id in the channel's target (a server
    channel, or a DM channel opened beforehand)."""

    def __init__(
        self, token: str, api_url: str, *, timeout_s: float = 10.0, max_rate_limit_s: float = 5.0
    ) -> None:
        settings = hikari.impl.HTTPSettings(
            timeouts=hikari.impl.HTTPTimeoutSettings(total=timeout_s)
        )
        self._app = hikari.RESTApp(
            url=api_url, http_settings=settings, max_rate_limit=max_rate_limit_s, max_retries=0
        )
        self._token = token
        self._client: hikari.impl.RESTClientImpl | None = None

    async def start(self) -> None:
        await self._app.start()
        self._client = self._app.acquire(self._token, hikari.TokenType.BOT)
        self._client.start()

    async def send(self, job: Job) -> None:
        if self._client is None:
            msg = "discord: sender not started"
            raise RetryableDelivery(msg)
        try:
            channel = int(job.channel.target)
        except ValueError:
            msg = f"discord: {job.channel.target!r} is not a channel id"
            raise RejectedDelivery(msg) from None
        try:
            await self._client.create_message(channel, event_text(job.event)[:MAX_CONTENT])
        except hikari.RateLimitTooLongError as exc:
            msg = f"discord: rate limited for {exc.retry_after:g}s"
            raise RetryableDelivery(msg, retry_after=exc.retry_after) from None
        except hikari.ClientHTTPResponseError as exc:  # 400, 401, 403 Missing Access, 404...
            text = f"discord: {exc.status} {exc.message or ''} (code {exc.code})".strip()
            if int(exc.status) in RETRYABLE_4XX:
                raise RetryableDelivery(text) from None
            raise RejectedDelivery(text) from None
        except hikari.HTTPError as exc:  # 5xx, connection refused, timeouts
            msg = f"discord: {exc}"
            raise RetryableDelivery(msg) from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            await self._app.close()
