"""Webhook adapter: POST the CloudEvent (structured JSON) signed with the subscription's secret.

Headers: ``Content-Type: application/cloudevents+json``, ``X-Ixo-Event-Id`` (receivers dedupe
by it), ``X-Ixo-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
2xx is delivered; 404 and 410 (gone), other 4xx and redirects are permanent; 408, 425, 429 and
5xx are retried (``Retry-After`` honoured); connection errors and timeouts are retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from consumers.notifier._errors import RejectedDelivery, RetryableDelivery
from consumers.notifier._signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from consumers.notifier._types import Job
from schemas import encode

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
USER_AGENT = "impressox-notifier/0.1"
RETRYABLE_4XX = frozenset({408, 425, 429})


def webhook_client(*, timeout_s: float = 10.0, connections: int = 64) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=timeout_s,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        headers={"user-agent": USER_AGENT},
    )


def retry_after_s(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.fromtimestamp(now, UTC)).total_seconds())


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, *, clock: Callable[[], float] = time.time):
        self._client = client
        self._clock = clock

    async def send(self, job: Job) -> None:
        if job.secret is None:
            msg = (
                f"webhook: no subscription of {job.user_id} to {job.channel.target}; "
                "create one (POST /v1/subscriptions) to get a signing secret"
            )
            raise RejectedDelivery(msg)
        body = encode(job.event)
        headers = {
            "content-type": CONTENT_TYPE,
            EVENT_ID_HEADER: job.event.id,
            SIGNATURE_HEADER: sign(job.secret, body, int(self._clock())),
        }
        try:
            response = await self._client.post(job.channel.target, content=body, headers=headers)
        except httpx.InvalidURL as exc:
            msg = f"webhook: invalid URL: {exc}"
            raise RejectedDelivery(msg) from None
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            msg = f"webhook: {type(exc).__name__}: {exc}"
            raise RetryableDelivery(msg) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        text = f"webhook: HTTP {status} from {job.channel.target}"
        if status >= 500 or status in RETRYABLE_4XX:
            wait = retry_after_s(response.headers.get("retry-after"), self._clock())
            raise RetryableDelivery(text, retry_after=wait)
        raise RejectedDelivery(text)

    async def close(self) -> None:
        await self._client.aclose()
