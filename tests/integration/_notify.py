"""The notifier's test data and probes, shared by the notifier's integration tests: a fast
configuration, rule / alert / subscription events, and the outcomes on
``ixo.notify.deliveries``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from consumers.notifier import Backoff, NotifierConfig
from infra.secrets import secret_box
from infra.settings import Settings
from schemas import (
    NOTIFY_DELIVERIES,
    AlertRuleCreatedV1,
    AlertTriggeredV1,
    AnyEvent,
    Channel,
    CloudEvent,
    Condition,
    SubscriptionCreatedV1,
    codec_for,
)
from tests._kafka import eventually, read_topic

SECRET = "ixosec_test_secret_0123456789"
FAST = NotifierConfig(
    # Short waits, but not so short that a send on a loaded machine (the suite runs in two
    # workers beside the fault suite's processes) times out and counts one more attempt.
    lease_s=8.0,
    send_timeout_s=6.0,
    busy_poll_s=0.1,
    backoff=Backoff(base_s=0.05, max_s=0.4, jitter_s=0.05),
    max_attempts=4,
    user_rate_per_s=1000.0,
    user_burst=1000,
    rule_wait_s=10.0,
)


def rule_event(
    channels: Iterable[Channel], *, user_id: str = "alice", rule_id: str | None = None
) -> AnyEvent:
    data = AlertRuleCreatedV1(
        rule_id=rule_id or f"r-{uuid.uuid4().hex[:8]}",
        user_id=user_id,
        symbol="BTCUSDT",
        condition=Condition(kind="above", threshold=Decimal(70000)),
        channels=tuple(channels),
    )
    return CloudEvent.new(data, source="/tests")


def alert_event(rule: AnyEvent, *, price: str = "70100.5") -> AnyEvent:
    data = AlertTriggeredV1(
        match_id=f"m-{uuid.uuid4().hex[:12]}",
        rule_id=rule.data.rule_id,
        user_id=rule.data.user_id,
        symbol="BTCUSDT",
        price=Decimal(price),
        condition=rule.data.condition,
        tick_id=uuid.uuid4().hex,
        triggered_at=datetime.now(UTC),
    )
    return CloudEvent.new(data, source="/tests")


def subscription_event(
    url: str,
    settings: Settings,
    *,
    owner: str = "alice",
    types: tuple[str, ...] = ("ixo.alert.triggered.v1",),
    all_users: bool = False,
    secret: str = SECRET,
) -> AnyEvent:
    """A subscription as the service publishes it: its secret encrypted with the settings'
    keys."""
    data = SubscriptionCreatedV1.model_validate(
        {
            "subscription_id": f"s-{uuid.uuid4().hex[:8]}",
            "owner": owner,
            "url": url,
            "secret_enc": secret_box(settings).encrypt(secret),
            "event_types": types,
            "all_users": all_users,
        }
    )
    return CloudEvent.new(data, source="/tests")


async def outcomes(settings: Settings) -> list[AnyEvent]:
    codec = codec_for(NOTIFY_DELIVERIES)
    return [codec.decode(r.value or b"") for r in await read_topic(settings, NOTIFY_DELIVERIES)]


async def outcome_count(settings: Settings, n: int) -> list[AnyEvent]:
    async def enough() -> list[AnyEvent] | None:
        found = await outcomes(settings)
        return found if len(found) >= n else None

    return await eventually(enough, timeout=30)


def by_kind(events: list[AnyEvent]) -> dict[tuple[str, str], AnyEvent]:
    out: dict[tuple[str, str], AnyEvent] = {}
    for e in events:
        key = (e.data.channel.kind, e.data.channel.target)
        assert key not in out, f"two outcomes for {key}"
        out[key] = e
    return out
