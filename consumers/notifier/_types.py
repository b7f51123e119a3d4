"""The notifier's values and the Protocols at its seams (channel senders, the delivery ledger,
the rate limiter, the routing directory, the outcome sink), so the core runs the same against
the Redis/Kafka adapters and anything else a test plugs in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import httpx

from schemas import AnyEvent, Channel

ClaimStatus = Literal["claimed", "busy", "sent", "failed", "done"]
OutcomeKind = Literal["delivered", "failed"]


class Positioned(Protocol):
    """An event and where it sits in its topic (a consumer's delivery satisfies this)."""

    @property
    def event(self) -> AnyEvent: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


@dataclass(frozen=True, slots=True)
class RuleRoute:
    """Where a rule's alerts go: its last known channels (a deleted rule keeps them, with
    ``deleted_at``, for the alerts it fired before it was deleted)."""

    rule_id: str
    user_id: str
    channels: tuple[Channel, ...]
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionRoute:
    """A live webhook subscription as the notifier holds it (with its secret, encrypted under
    the server keys). ``all_users``: every user's events, not only the owner's."""

    subscription_id: str
    owner: str
    url: str
    secret: str
    event_types: frozenset[str]
    since: datetime
    all_users: bool = False


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery: ``event`` to ``channel``. ``key`` is its dedupe key: (match_id, channel)
    for a rule's channel, (event id, subscription id) for a subscription. The outcome event
    carries ``match_id``, ``user_id`` and ``channel``."""

    key: str
    match_id: str
    user_id: str
    channel: Channel
    event: AnyEvent
    bucket: str
    rate_per_s: float
    burst: int
    secret: str | None = None
    """The webhook signing secret, encrypted (a Fernet token): only the sender decrypts it."""
    expires_at: float | None = None
    reserved: bool = False
    """A parked job whose rate-limit slot was taken before it was parked."""


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    attempts: int
    at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """What the ledger says about a delivery key when a worker asks to own it.

    ``claimed``: ours, ``attempts`` made so far (by us or a crashed predecessor); ``busy``:
    another live worker holds it for ``wait_s`` more; ``sent``/``failed``: the outcome is
    decided (``outcome``) but its event may not be on Kafka yet; ``done``: nothing left to do.
    """

    status: ClaimStatus
    attempts: int = 0
    outcome: Outcome | None = None
    wait_s: float = 0.0


class TargetGuard(Protocol):
    """Says whether a webhook URL may be sent to (``infra.net.OutboundGuard``): the parsed URL,
    or a ``PermanentError`` (refused; its ``detail`` says why, for logs only) or a
    ``TransientError`` (the host does not resolve now)."""

    async def check_url(self, url: str | httpx.URL) -> httpx.URL: ...


class Sender(Protocol):
    """Delivers one job on one channel kind; raises ``RetryableDelivery`` or
    ``RejectedDelivery`` (never a library's exception)."""

    async def send(self, job: Job) -> None: ...


class Ledger(Protocol):
    """Per-key delivery state shared by every notifier process (claim with a lease, record the
    decided outcome before publishing it, mark it done after)."""

    async def claim(self, key: str, token: str, *, begin: bool = False) -> Claim:
        """Own ``key`` (see :class:`Claim`); with ``begin``, a claimed key's next attempt starts
        at once (``Claim.attempts`` counts it)."""
        ...

    async def begin_attempt(self, key: str, token: str) -> int | None:
        """Start the next attempt (renews the lease): its number, or None if not ours."""
        ...

    async def renew(self, key: str, token: str) -> bool:
        """Extend the lease of a key we hold; False if another worker took it over."""
        ...

    async def settle(self, key: str, token: str, outcome: Outcome) -> bool: ...
    async def finish(self, key: str) -> None: ...
    async def release(self, key: str, token: str, *, undo_attempt: bool = False) -> None:
        """Let the next worker take the key at once (``undo_attempt``: the attempt begun was
        never sent)."""
        ...


class Parking(Protocol):
    """Jobs waiting (a rate-limit slot, a retry) outside the consumer's batch, due at a time;
    any notifier process resumes them."""

    async def park(self, job: Job, due: float) -> None: ...
    async def take_due(self, limit: int) -> list[Job]:
        """Due jobs, each hidden from other takers for a while (it comes back if the taker
        dies before ``unpark``)."""
        ...

    async def unpark(self, key: str) -> None: ...


class RateLimiter(Protocol):
    async def reserve(self, bucket: str, rate_per_s: float, burst: int) -> float:
        """Take the next slot of ``bucket``; returns how long to wait for it (0: now)."""
        ...


class Directory(Protocol):
    """The notifier's event-sourced routing state: rules' channels and subscriptions."""

    async def apply_rules(self, items: Sequence[Positioned]) -> None: ...
    async def apply_subscriptions(self, items: Sequence[Positioned]) -> None: ...
    async def rule(self, rule_id: str) -> RuleRoute | None: ...
    async def rules(self, rule_ids: Sequence[str]) -> dict[str, RuleRoute]: ...
    async def subscriptions_for(self, event_types: set[str]) -> list[SubscriptionRoute]: ...
    async def webhook_secret(self, owner: str, url: str) -> str | None: ...


class OutcomeSink(Protocol):
    async def publish(self, event: AnyEvent) -> None:
        """Write one outcome event durably (return once the broker acknowledged it)."""
        ...
