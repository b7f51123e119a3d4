"""Rebuilding the notifier's working state after Redis lost it (a restart without persistence, a
``FLUSHALL``, ``ixo rebuild redis``), from the sources of truth:

- **the directory** (rule routes, subscriptions and their indexes) — ``ixo.alerts.rules`` and
  ``ixo.notify.subscriptions`` (compacted) folded to the latest event per key and applied with
  their own (partition, offset), so the live folds' redeliveries stay no-ops;
- **the delivery ledger** — every outcome on ``ixo.notify.deliveries`` within the dedupe window
  (``dedupe_ttl_s``) becomes a *done* entry under the key the delivery was made with, so an
  alert delivered before the loss is not delivered again (the ``deliveries`` read model holds
  the same outcomes, but lags the topic);
- **parked deliveries** (waiting for a rate-limit slot or a retry) — they lived only in Redis:
  the alerts the alerts group already consumed within ``max_age_s`` are run through the
  notifier again; the restored ledger skips every one that had an outcome, the others are
  delivered (or parked again) exactly once.

Not restored: the rate limiters (a user may get up to one burst sooner than the limit allows
after a loss); parked deliveries of non-alert subscription events (their events are not
re-read); a send that happened but whose outcome was not yet published when Redis lost the
ledger is sent again (at-least-once at that one point, as before a crash).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from consumers.notifier._notifier import Notifier
from consumers.notifier._routing import alert_key, normalise_url, webhook_key
from consumers.notifier._types import Directory, Outcome, Positioned
from schemas import Channel, NotificationDeliveredV1, NotificationFailedV1

log = logging.getLogger(__name__)

ALERT_BATCH: Final = 500


class NotifierRebuildSource(Protocol):
    """What a rebuild reads (Kafka in production)."""

    async def rules(self) -> Sequence[Positioned]:
        """The latest event of every rule."""
        ...

    async def subscriptions(self) -> Sequence[Positioned]:
        """The latest event of every subscription."""
        ...

    def outcomes(self, since_ms: int) -> AsyncIterator[Positioned]:
        """Delivery outcomes written at or after ``since_ms``."""
        ...

    def consumed_alerts(self, since_ms: int) -> AsyncIterator[Positioned]:
        """Alerts written at or after ``since_ms`` that the alerts group already consumed."""
        ...


class LedgerRestore(Protocol):
    async def restore(self, key: str, outcome: Outcome) -> None:
        """Record ``key`` as done with ``outcome`` (unless the ledger already has it)."""
        ...


@dataclass(slots=True)
class NotifierRebuildSummary:
    """What a rebuild restored."""

    rules: int = 0
    subscriptions: int = 0
    deliveries: int = 0
    alerts_rechecked: int = 0


def outcome_key(match_id: str, user_id: str, channel: Channel) -> str:
    """The ledger key a delivery with this outcome was made under (see ``_routing``)."""
    if channel.kind == "webhook":
        url = normalise_url(channel.target)
        if url is not None:
            return webhook_key(match_id, user_id, url)
    return alert_key(match_id, channel)


async def rebuild(
    notifier: Notifier,
    directory: Directory,
    ledger: LedgerRestore,
    source: NotifierRebuildSource,
    *,
    now_ms: int,
    dedupe_ttl_s: int,
    max_age_s: float,
) -> NotifierRebuildSummary:
    """Rebuild the notifier's (empty) Redis state from ``source``; see the module doc."""
    summary = NotifierRebuildSummary()
    rules = await source.rules()
    await directory.apply_rules(rules)
    summary.rules = len(rules)
    subscriptions = await source.subscriptions()
    await directory.apply_subscriptions(subscriptions)
    summary.subscriptions = len(subscriptions)
    async for item in source.outcomes(now_ms - dedupe_ttl_s * 1000):
        data = item.event.data
        if isinstance(data, NotificationDeliveredV1):
            outcome = Outcome("delivered", data.attempts, data.delivered_at, None)
        elif isinstance(data, NotificationFailedV1):
            outcome = Outcome("failed", data.attempts, data.failed_at, data.error)
        else:
            continue
        await ledger.restore(outcome_key(data.match_id, data.user_id, data.channel), outcome)
        summary.deliveries += 1
    batch: list[Positioned] = []
    async for item in source.consumed_alerts(now_ms - int(max_age_s * 1000)):
        batch.append(item)
        if len(batch) >= ALERT_BATCH:
            await notifier.on_alerts(batch)
            summary.alerts_rechecked += len(batch)
            batch = []
    if batch:
        await notifier.on_alerts(batch)
        summary.alerts_rechecked += len(batch)
    log.info(
        "notifier state rebuilt",
        extra={
            "rules": summary.rules,
            "subscriptions": summary.subscriptions,
            "deliveries": summary.deliveries,
            "alerts_rechecked": summary.alerts_rechecked,
        },
    )
    return summary
