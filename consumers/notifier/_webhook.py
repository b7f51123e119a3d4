"""Webhook adapter: POST the CloudEvent (structured JSON) signed with the subscription's secret.

Headers: ``Content-Type: application/cloudevents+json``, ``X-Ixo-Event-Id`` (receivers dedupe
by it), ``X-Ixo-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
2xx is delivered; 404 and 410 (gone) and other 4xx are permanent; 408, 425, 429 and 5xx are
retried (``Retry-After`` honoured); connection errors and timeouts are retried.

Every target is checked by the outbound guard (a :class:`TargetGuard`, ``infra.net``'s in the
app) before each POST, and the app's client only connects to checked addresses. Redirects
(301, 302, 303, 307, 308) are followed by hand, at most :data:`MAX_REDIRECTS`, each hop
checked the same way and POSTed the same signed body. A refused target fails for good with
the generic "webhook target not allowed"; transport errors say only "connection failed" or
"timed out": an outcome never tells what an address answered, or whether anything answered
at all, beyond the HTTP status of an allowed target. The secret arrives encrypted (a Fernet
token) and is decrypted only to sign.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, NoReturn

import httpx

from consumers.notifier._errors import RejectedDelivery, RetryableDelivery
from consumers.notifier._signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from consumers.notifier._types import Job, TargetGuard
from schemas import PermanentError, TransientError, encode

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
USER_AGENT = "impressox-notifier/0.1"
RETRYABLE_4XX = frozenset({408, 425, 429})
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS: Final = 3
MAX_ANSWER_BYTES: Final = 64 * 1024
CONNECTION_FAILED: Final = "webhook: connection failed"
TIMED_OUT: Final = "webhook: timed out"
NOT_ALLOWED_MESSAGE: Final = "webhook target not allowed"

Decrypt = Callable[[str], str]
"""Turns the stored (encrypted) secret into the signing secret (``SecretBox.decrypt``); raises
a :class:`PermanentError` when it cannot."""


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
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        guard: TargetGuard,
        decrypt: Decrypt,
        clock: Callable[[], float] = time.time,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self._client = client
        self._guard = guard
        self._decrypt = decrypt
        self._clock = clock
        self._max_redirects = max_redirects

    async def send(self, job: Job) -> None:
        if job.secret is None:
            msg = (
                f"webhook: no subscription of {job.user_id} to {job.channel.target}; "
                "create one (POST /v1/subscriptions) to get a signing secret"
            )
            raise RejectedDelivery(msg)
        try:
            secret = self._decrypt(job.secret)
        except PermanentError:
            msg = "webhook: the signing secret cannot be decrypted (IXO_SECRETS_KEYS)"
            raise RejectedDelivery(msg) from None
        body = encode(job.event)
        headers = {
            "content-type": CONTENT_TYPE,
            EVENT_ID_HEADER: job.event.id,
            SIGNATURE_HEADER: sign(secret, body, int(self._clock())),
        }
        url = await self._allowed(job, job.channel.target)
        for hop in range(self._max_redirects + 1):
            status, answer = await self._post(job, url, body, headers)
            location = answer.get("location")
            if status not in REDIRECTS or not location:
                self._verdict(status, answer, job)
                return
            if hop == self._max_redirects:
                break
            try:
                following = url.join(location)
            except httpx.InvalidURL:
                raise RejectedDelivery(NOT_ALLOWED_MESSAGE) from None
            url = await self._allowed(job, following)
        msg = f"webhook: more than {self._max_redirects} redirects"
        raise RejectedDelivery(msg)

    async def _allowed(self, job: Job, url: str | httpx.URL) -> httpx.URL:
        """The URL, checked by the guard (refused: a generic permanent failure)."""
        try:
            return await self._guard.check_url(url)
        except PermanentError as exc:
            self._refused(job, exc)
        except TransientError:
            raise RetryableDelivery(CONNECTION_FAILED) from None

    def _refused(self, job: Job, exc: PermanentError) -> NoReturn:
        log.warning(
            "webhook target refused",
            extra={"key": job.key, "user_id": job.user_id, "reason": getattr(exc, "detail", "")},
        )
        raise RejectedDelivery(NOT_ALLOWED_MESSAGE) from None

    async def _post(
        self, job: Job, url: httpx.URL, body: bytes, headers: dict[str, str]
    ) -> tuple[int, httpx.Headers]:
        """POST once; the status and headers (at most ``MAX_ANSWER_BYTES`` of the answer are
        read, and never kept)."""
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as got:
                read = 0
                async for chunk in got.aiter_raw():  # a short answer: the connection is reused
                    read += len(chunk)
                    if read > MAX_ANSWER_BYTES:
                        break
                return got.status_code, got.headers
        except PermanentError as exc:  # the connection's own check (DNS changed since)
            self._refused(job, exc)
        except TransientError:
            raise RetryableDelivery(CONNECTION_FAILED) from None
        except httpx.TimeoutException:
            raise RetryableDelivery(TIMED_OUT) from None
        except httpx.InvalidURL:
            raise RejectedDelivery(NOT_ALLOWED_MESSAGE) from None
        except httpx.TransportError:
            raise RetryableDelivery(CONNECTION_FAILED) from None

    def _verdict(self, status: int, answer: httpx.Headers, job: Job) -> None:
        if 200 <= status < 300:
            return
        text = f"webhook: HTTP {status} from {job.channel.target}"
        if status >= 500 or status in RETRYABLE_4XX:
            wait = retry_after_s(answer.get("retry-after"), self._clock())
            raise RetryableDelivery(text, retry_after=wait)
        raise RejectedDelivery(text)

    async def close(self) -> None:
        await self._client.aclose()
