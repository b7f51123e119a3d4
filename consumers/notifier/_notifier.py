"""The notifier's core: alerts to their rule's channels, subscribed events to webhooks, each
delivery exactly once as far as the outside world allows, each ending in exactly one outcome.

One delivery (a :class:`Job`) goes through the shared ledger:

1. ``claim`` its key (starting attempt 1): a new key is ours; a key another live worker holds
   (a rebalance) is waited for; a key whose holder died (its lease lapsed) is taken over with
   its attempt count; a key whose outcome was decided but maybe not published
   (``sent``/``failed``) is only published, never sent again; a ``done`` key is skipped.
2. per attempt: wait for the user's (or subscription's) rate-limit slot (after a long wait,
   ``renew`` the lease, giving up if another worker took the key over), send. Transient errors
   are retried with exponential backoff and jitter (a service's ``retry_after`` is a floor),
   each retry starting with ``begin_attempt`` (renews the lease, counts the attempt);
   permanent errors are not retried.
3. ``settle`` the outcome in the ledger *before* publishing it, so a crash after the send never
   sends again and a crash after deciding "failed" never turns into a delivery.
4. publish ``ixo.notification.delivered.v1`` or ``.failed.v1`` (deterministic event id, content
   taken from the ledger, so a re-publication after a crash is the same event), then ``finish``.

A batch's deliveries run concurrently; at most ``concurrency`` sends are in flight at once.
Rate-limit waits and backoff sleeps hold no send slot, and a wait longer than
``park_after_s`` does not hold the batch either: the job is parked in Redis (its key released),
the batch completes and commits, and :meth:`Notifier.run_parked` resumes the job when due, in
whichever notifier process gets to it first (the ledger still guarantees one send).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, TypeVar

from consumers.notifier._backoff import Backoff
from consumers.notifier._errors import RejectedDelivery, RetryableDelivery
from consumers.notifier._routing import (
    alert_key,
    channels_for_alert,
    delivery_id,
    normalise_url,
    subscribers,
    webhook_key,
)
from consumers.notifier._types import (
    Claim,
    Directory,
    Job,
    Ledger,
    Outcome,
    OutcomeSink,
    Parking,
    Positioned,
    RateLimiter,
    RuleRoute,
    Sender,
)
from schemas import (
    ALERT_MATCHES,
    NOTIFY_DELIVERIES,
    AlertTriggeredV1,
    AnyEvent,
    Channel,
    CloudEvent,
    NotificationDeliveredV1,
    NotificationFailedV1,
    Topic,
    TransientError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

OUTCOME_NAMESPACE: Final = uuid.UUID("6f1d8a52-3b7e-5c39-9a41-2f0c6e8d7b15")
"""uuid5 namespace of outcome event ids (never change it: readers dedupe by event id)."""
MAX_ERROR_CHARS: Final = 500
_PARKED: Final = object()
SOURCE: Final = "/consumers/notifier"


@dataclass(frozen=True)
class NotifierConfig:
    """Knobs of the notifier (defaults suit production; tests shorten the waits)."""

    concurrency: int = 64
    """Sends in flight at once, per consumer (alerts, and each subscribed topic)."""
    max_attempts: int = 6
    backoff: Backoff = field(default_factory=Backoff)
    max_retry_after_s: float = 300.0
    """A service asking to wait longer than this ends the delivery as failed."""
    send_timeout_s: float = 10.0
    lease_s: float = 30.0
    """How long a claim survives a worker that stopped renewing it (must exceed a send)."""
    busy_poll_s: float = 0.5
    park_after_s: float = 1.0
    """A wait longer than this (rate-limit slot, retry) parks the job in Redis instead of
    holding the batch: the batch commits, and a background loop resumes the job when due."""
    park_poll_s: float = 0.2
    dedupe_ttl_s: int = 31 * 24 * 3600
    """How long delivery keys are remembered (at least the retention of ixo.alerts.matches)."""
    user_rate_per_s: float = 1.0
    user_burst: int = 10
    subscription_rate_per_s: float = 100.0
    subscription_burst: int = 200
    max_age_s: float = 3600.0
    """An alert or event older than this when its turn comes is not sent: failed, "expired"."""
    rule_wait_s: float = 10.0
    """How long an alert waits for its rule (and a rule's webhook channel for its secret) to
    reach the notifier's directory before it is dropped as unroutable (or failed: no secret);
    the rules and subscriptions topics are consumed beside the alerts, and may lag."""
    webhook_topics: tuple[Topic, ...] = (ALERT_MATCHES,)
    """Topics whose events are delivered to subscriptions (add topics to offer more types)."""
    max_records: int = 500

    def __post_init__(self) -> None:
        if self.lease_s <= self.send_timeout_s:
            msg = "lease_s must exceed send_timeout_s (a live send must never look abandoned)"
            raise ValueError(msg)
        if NOTIFY_DELIVERIES in self.webhook_topics:
            msg = "ixo.notify.deliveries cannot feed subscriptions (deliveries would loop)"
            raise ValueError(msg)
        if self.concurrency < 1 or self.max_attempts < 1:
            msg = "concurrency and max_attempts must be at least 1"
            raise ValueError(msg)

    @property
    def subscribable_types(self) -> frozenset[str]:
        return frozenset(t for topic in self.webhook_topics for t in topic.type_names)


def outcome_event(job: Job, outcome: Outcome, *, source: str = SOURCE) -> AnyEvent:
    """The outcome event of a job: same inputs, same event (id, time and body)."""
    common = {
        "match_id": job.match_id,
        "user_id": job.user_id,
        "channel": job.channel,
        "attempts": max(1, outcome.attempts),
    }
    data: NotificationDeliveredV1 | NotificationFailedV1
    if outcome.kind == "delivered":
        data = NotificationDeliveredV1.model_validate({**common, "delivered_at": outcome.at})
    else:
        data = NotificationFailedV1.model_validate(
            {**common, "error": outcome.error or "failed", "failed_at": outcome.at}
        )
    event_id = str(uuid.uuid5(OUTCOME_NAMESPACE, f"{job.key}|{outcome.kind}"))
    return CloudEvent.new(
        data, source=source, causation=job.event, event_id=event_id, time=outcome.at
    )


class Notifier:
    """Plans and runs deliveries. ``senders`` maps a channel kind to its adapter; a kind with no
    sender fails its deliveries permanently (not configured)."""

    def __init__(
        self,
        *,
        senders: Mapping[str, Sender],
        ledger: Ledger,
        limiter: RateLimiter,
        directory: Directory,
        sink: OutcomeSink,
        parking: Parking | None = None,
        config: NotifierConfig | None = None,
        source: str = SOURCE,
        token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or NotifierConfig()
        self.senders = dict(senders)
        self._ledger = ledger
        self._limiter = limiter
        self._directory = directory
        self._sink = sink
        self._parking = parking
        self._resuming: set[asyncio.Task[None]] = set()
        self._parked_stop = asyncio.Event()
        """Set by :meth:`stop_resuming`: :meth:`run_parked` ends at its next turn. A
        cancellation alone is not enough: a library call inside it may swallow one (seen: the
        loop went on sleeping and polling after its task was cancelled, and shutdown hung)."""
        self._source = source
        self.token = token or uuid.uuid4().hex
        self._clock = clock
        self._slots: asyncio.Semaphore | None = None

    # -- state topics ----------------------------------------------------------------------

    async def on_rules(self, batch: Sequence[Positioned]) -> None:
        await self._directory.apply_rules(batch)

    async def on_subscriptions(self, batch: Sequence[Positioned]) -> None:
        await self._directory.apply_subscriptions(batch)

    # -- deliveries ------------------------------------------------------------------------

    async def on_alerts(self, batch: Sequence[Positioned]) -> None:
        """Deliver each alert of the batch to its rule's channels (all alerts concurrently)."""
        alerts = {
            item.event.id: item.event
            for item in batch
            if isinstance(item.event.data, AlertTriggeredV1)
        }
        known = await self._directory.rules([e.data.rule_id for e in alerts.values()])
        await _all(self._alert(event, known.get(event.data.rule_id)) for event in alerts.values())

    async def on_events(self, batch: Sequence[Positioned]) -> None:
        """Deliver each event of the batch to the subscriptions that want it."""
        events = {item.event.id: item.event for item in batch}
        if not events:
            return
        subs = await self._directory.subscriptions_for({e.type for e in events.values()})
        jobs: dict[str, Job] = {}
        cfg = self.config
        # Newest first: of two subscriptions of one owner to one URL, the newest signs.
        subs.sort(key=lambda s: s.since, reverse=True)
        for event in events.values():
            for sub in subscribers(subs, event):
                match_id = delivery_id(event)
                job = Job(
                    key=webhook_key(match_id, sub.owner, sub.url),
                    match_id=match_id,
                    user_id=sub.owner,
                    channel=Channel(kind="webhook", target=sub.url),
                    event=event,
                    bucket=f"s:{sub.subscription_id}",
                    rate_per_s=cfg.subscription_rate_per_s,
                    burst=cfg.subscription_burst,
                    secret=sub.secret,
                    expires_at=self._expiry(event),
                )
                jobs.setdefault(job.key, job)
        await _all(self._run(job) for job in jobs.values())

    async def _alert(self, event: AnyEvent, route: RuleRoute | None) -> None:
        alert = event.data
        assert isinstance(alert, AlertTriggeredV1)
        if route is None:
            route = await self._wait_rule(alert.rule_id)
        if route is None:
            log.warning(
                "alert for a rule the notifier does not know; not delivered",
                extra={"event_id": event.id, "rule_id": alert.rule_id, "match_id": alert.match_id},
            )
            return
        jobs = [await self._alert_job(event, alert, ch) for ch in channels_for_alert(alert, route)]
        await _all(self._run(job) for job in jobs)

    async def _alert_job(self, event: AnyEvent, alert: AlertTriggeredV1, channel: Channel) -> Job:
        key = alert_key(alert.match_id, channel)
        secret = None
        if channel.kind == "webhook":
            url = normalise_url(channel.target)
            if url is not None:
                key = webhook_key(alert.match_id, alert.user_id, url)
                secret = await self._wait_secret(alert.user_id, url)
        cfg = self.config
        return Job(
            key=key,
            match_id=alert.match_id,
            user_id=alert.user_id,
            channel=channel,
            event=event,
            bucket=f"u:{alert.user_id}",
            rate_per_s=cfg.user_rate_per_s,
            burst=cfg.user_burst,
            secret=secret,
            expires_at=self._expiry(event),
        )

    def _expiry(self, event: AnyEvent) -> float:
        return event.time.timestamp() + self.config.max_age_s

    async def _wait_rule(self, rule_id: str) -> RuleRoute | None:
        return await self._wait(lambda: self._directory.rule(rule_id))

    async def _wait_secret(self, owner: str, url: str) -> str | None:
        return await self._wait(lambda: self._directory.webhook_secret(owner, url))

    async def _wait(self, probe: Callable[[], Awaitable[T | None]]) -> T | None:
        """Ask the directory until it knows (its topics are consumed beside ours and may lag),
        for at most ``rule_wait_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.rule_wait_s
        while True:
            found = await probe()
            if found is not None or loop.time() >= deadline:
                return found
            await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))

    async def deliver(self, job: Job) -> bool:
        """Run one job through the ledger to exactly one outcome event (see the module doc).
        Returns True when the job was parked to finish later.

        Each run claims with its own token, so two runs of one key in this process (a rule's
        webhook channel and a subscription to the same URL) exclude each other too."""
        token = f"{self.token}.{uuid.uuid4().hex[:12]}"
        claim = await self._claim(job, token)
        if claim.status == "done":
            return False
        if claim.status in ("sent", "failed"):
            assert claim.outcome is not None
            await self._publish(job, claim.outcome)
            return False
        outcome = await self._attempts(job, token, claim.attempts)
        if outcome is _PARKED:
            return True
        if outcome is None:
            return False  # another worker took the key over; it will finish the job
        assert isinstance(outcome, Outcome)
        if not await self._ledger.settle(job.key, token, outcome):
            log.warning(
                "lost the claim of a delivery while deciding it",
                extra={"key": job.key, "outcome": outcome.kind},
            )
            return False
        await self._publish(job, outcome)
        return False

    async def _run(self, job: Job) -> None:
        await self.deliver(job)

    async def _claim(self, job: Job, token: str) -> Claim:
        while True:
            claim = await self._ledger.claim(job.key, token, begin=True)
            if claim.status != "busy":
                return claim
            await asyncio.sleep(min(self.config.busy_poll_s, max(claim.wait_s, 0.01)))

    async def _attempts(self, job: Job, token: str, attempt: int) -> Outcome | object | None:
        """Attempts until an outcome; None if the key was taken over; ``_PARKED``."""
        reserved = job.reserved
        sending = False
        try:
            while True:
                if not reserved:
                    wait = await self._limiter.reserve(job.bucket, job.rate_per_s, job.burst)
                    if wait > 0 and self._parks(wait):
                        await self._park(job, token, wait, slot_taken=True)
                        return _PARKED
                    if wait > 0 and not await self._sleep_holding(job, token, wait):
                        return None
                reserved = False
                sending = True
                result = await self._attempt(job, attempt)
                sending = False
                if isinstance(result, Outcome):
                    return result
                if self._parks(result):
                    await self._park(job, token, result, slot_taken=False)
                    return _PARKED
                await asyncio.sleep(result)
                following = await self._ledger.begin_attempt(job.key, token)
                if following is None:
                    return None
                attempt = following
        except (Exception, asyncio.CancelledError):
            # Stopped or failed between sends: let the next run (a retry of this batch, another
            # process) go at once. In the middle of a send we cannot know whether it arrived:
            # the claim then stays until its lease lapses.
            if not sending:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._ledger.release(job.key, token))
            raise

    def _parks(self, wait: float) -> bool:
        return self._parking is not None and wait > self.config.park_after_s

    async def _park(self, job: Job, token: str, wait: float, *, slot_taken: bool) -> None:
        """Hand the job to the parking lot (due in ``wait`` s) and free its key. An attempt
        begun but not sent (waiting for its rate-limit slot) is not counted."""
        assert self._parking is not None
        parked = dataclasses.replace(job, reserved=slot_taken)
        await self._parking.park(parked, self._clock() + wait)
        await self._ledger.release(job.key, token, undo_attempt=slot_taken)
        log.debug("delivery parked", extra={"key": job.key, "wait_s": round(wait, 3)})

    async def _sleep_holding(self, job: Job, token: str, wait: float) -> bool:
        """Sleep for a rate-limit slot keeping the key; False if it was taken over meanwhile."""
        await asyncio.sleep(wait)
        if wait < self.config.lease_s / 3:
            return True  # the lease still covers the send
        return await self._ledger.renew(job.key, token)

    # -- parked jobs -----------------------------------------------------------------------

    async def resume_due(self, limit: int = 100) -> int:
        """Start every parked job that is due (up to ``limit``); returns how many."""
        if self._parking is None:
            return 0
        jobs = await self._parking.take_due(limit)
        for job in jobs:
            task = asyncio.create_task(self._resume(job))
            self._resuming.add(task)
            task.add_done_callback(self._resuming.discard)
        return len(jobs)

    async def _resume(self, job: Job) -> None:
        assert self._parking is not None
        try:
            parked_again = await self.deliver(job)
        except Exception:  # it stays parked and comes back once its hiding time is over
            log.exception("resuming a parked delivery failed", extra={"key": job.key})
            return
        if not parked_again:
            await self._parking.unpark(job.key)

    async def run_parked(self) -> None:
        """Resume parked jobs as they fall due, until :meth:`stop_resuming` (or cancelled)."""
        self._parked_stop.clear()
        while not self._parked_stop.is_set():
            try:
                started = await self.resume_due()
            except TransientError as exc:
                log.warning("cannot read parked deliveries", extra={"error": str(exc)})
                started = 0
            if not started:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._parked_stop.wait(), self.config.park_poll_s)

    def stop_parked(self) -> None:
        """Make :meth:`run_parked` return at its next turn (shutdown)."""
        self._parked_stop.set()

    async def stop_resuming(self) -> None:
        self.stop_parked()
        tasks = list(self._resuming)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _attempt(self, job: Job, attempt: int) -> Outcome | float:
        """One attempt: its outcome, or how long to wait before the next one."""
        cfg = self.config
        sender = self.senders.get(job.channel.kind)
        if job.expires_at is not None and self._clock() > job.expires_at:
            return self._failed(attempt, f"expired: older than {cfg.max_age_s:g}s")
        if sender is None:
            return self._failed(attempt, f"{job.channel.kind} is not configured")
        try:
            async with self._slot():  # the timeout starts once a send slot is ours
                async with asyncio.timeout(cfg.send_timeout_s):
                    await sender.send(job)
        except RejectedDelivery as exc:
            return self._failed(attempt, str(exc))
        except (RetryableDelivery, TimeoutError) as exc:
            retry_after = exc.retry_after if isinstance(exc, RetryableDelivery) else None
            return self._retry(job, attempt, str(exc) or "timed out", retry_after)
        return Outcome("delivered", attempt, self._now())

    def _retry(
        self, job: Job, attempt: int, reason: str, retry_after: float | None
    ) -> Outcome | float:
        cfg = self.config
        if retry_after is not None and retry_after > cfg.max_retry_after_s:
            return self._failed(attempt, f"{reason} (asked to wait {retry_after:g}s; giving up)")
        if attempt >= cfg.max_attempts:
            return self._failed(attempt, f"gave up after {attempt} attempts: {reason}")
        delay = cfg.backoff.delay(attempt, retry_after)
        log.info(
            "delivery failed, retrying",
            extra={"key": job.key, "attempt": attempt, "delay_s": round(delay, 3), "error": reason},
        )
        return delay

    def _slot(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.concurrency)
        return self._slots

    def _now(self) -> datetime:
        # Millisecond precision: the outcome re-read from the ledger must equal the original.
        return datetime.fromtimestamp(round(self._clock(), 3), UTC)

    def _failed(self, attempt: int, error: str) -> Outcome:
        return Outcome("failed", attempt, self._now(), error[:MAX_ERROR_CHARS])

    async def _publish(self, job: Job, outcome: Outcome) -> None:
        await self._sink.publish(outcome_event(job, outcome, source=self._source))
        await self._ledger.finish(job.key)
        log.log(
            logging.DEBUG if outcome.kind == "delivered" else logging.WARNING,
            "notification %s",
            outcome.kind,
            extra={
                "key": job.key,
                "match_id": job.match_id,
                "channel": job.channel.kind,
                "attempts": outcome.attempts,
                "error": outcome.error,
            },
        )


async def _all(coros: Iterable[Awaitable[None]]) -> None:
    """Run concurrently; when some failed, raise (a dependency outage first, so the batch is
    retried as transient) after all have finished: the ledger makes the retry safe."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if not errors:
        return
    for error in errors:
        if isinstance(error, TransientError):
            raise error
    raise errors[0]
