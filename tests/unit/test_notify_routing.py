"""The notifier's pure parts: routing, dedupe keys, backoff, texts, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from consumers.notifier import (
    Backoff,
    NotifierConfig,
    RuleRoute,
    SubscriptionRoute,
    alert_key,
    alert_text,
    channels_for_alert,
    delivery_id,
    normalise_url,
    wants,
    webhook_key,
)
from consumers.notifier._webhook import retry_after_s
from schemas import (
    ALERT_MATCHES,
    NOTIFY_DELIVERIES,
    AlertTriggeredV1,
    Channel,
    CloudEvent,
    Condition,
    MarketTickV1,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TG = Channel(kind="telegram", target="42")
HOOK = Channel(kind="webhook", target="https://example.test/hook")


def alert(**changes: Any) -> AlertTriggeredV1:
    base: dict[str, Any] = {
        "match_id": "m1",
        "rule_id": "r1",
        "user_id": "alice",
        "symbol": "BTCUSDT",
        "price": Decimal("70100.5"),
        "condition": Condition(kind="above", threshold=Decimal("70000")),
        "tick_id": "t1",
        "triggered_at": T0,
    }
    return AlertTriggeredV1.model_validate({**base, **changes})


def sub(**changes: Any) -> SubscriptionRoute:
    base: dict[str, Any] = {
        "subscription_id": "s1",
        "owner": "alice",
        "url": "https://example.test/hook",
        "secret": "x" * 16,
        "event_types": frozenset({"ixo.alert.triggered.v1"}),
        "since": T0 - timedelta(hours=1),
    }
    return SubscriptionRoute(**{**base, **changes})


def test_channels_of_a_live_rule_without_duplicates() -> None:
    route = RuleRoute("r1", "alice", (TG, HOOK, TG))
    assert channels_for_alert(alert(), route) == (TG, HOOK)
    assert channels_for_alert(alert(), None) == ()


def test_a_deleted_rule_still_delivers_alerts_fired_before_the_deletion() -> None:
    route = RuleRoute("r1", "alice", (TG,), deleted_at=T0 + timedelta(seconds=1))
    assert channels_for_alert(alert(), route) == (TG,)
    assert channels_for_alert(alert(triggered_at=T0 + timedelta(seconds=2)), route) == ()


def test_dedupe_keys_differ_per_channel_and_per_subscription() -> None:
    assert alert_key("m1", TG) != alert_key("m1", HOOK)
    assert alert_key("m1", TG) == alert_key("m1", Channel(kind="telegram", target="42"))
    assert alert_key("m1", TG) != alert_key("m1", Channel(kind="discord", target="42"))
    url = "https://example.test/hook"
    assert webhook_key("m1", "alice", url) != webhook_key("m1", "bob", url)
    assert webhook_key("m1", "alice", url) != webhook_key("m2", "alice", url)


def test_alerts_are_delivered_by_match_id_other_events_by_event_id() -> None:
    event = CloudEvent.new(alert(), source="/t", time=T0)
    assert delivery_id(event) == "m1"
    tick = MarketTickV1(symbol="BTCUSDT", price=Decimal(1), venue="v", ts=T0)
    other = CloudEvent.new(tick, source="/t", time=T0)
    assert delivery_id(other) == other.id


def test_subscriptions_get_their_owners_events_and_public_ones_after_creation() -> None:
    mine = CloudEvent.new(alert(), source="/t", time=T0)
    theirs = CloudEvent.new(alert(user_id="bob"), source="/t", time=T0)
    assert wants(sub(), mine)
    assert not wants(sub(), theirs)
    assert not wants(sub(since=T0 + timedelta(seconds=1)), mine)
    assert not wants(sub(event_types=frozenset({"ixo.market.tick.v1"})), mine)
    tick = MarketTickV1(symbol="BTCUSDT", price=Decimal(1), venue="v", ts=T0)
    public = CloudEvent.new(tick, source="/t", time=T0)
    assert wants(sub(event_types=frozenset({"ixo.market.tick.v1"})), public)


def test_only_an_all_users_subscription_gets_other_users_events() -> None:
    theirs = CloudEvent.new(alert(user_id="bob"), source="/t", time=T0)
    assert not wants(sub(owner="ops"), theirs)
    assert wants(sub(owner="ops", all_users=True), theirs)
    assert not wants(sub(owner="ops", all_users=True, since=T0 + timedelta(seconds=1)), theirs)


def test_channel_targets_are_urls_for_webhooks_and_ids_for_chats() -> None:
    for target in ("javascript:alert(1)", "ftp://example.test/x", "//example.test", "hook"):
        with pytest.raises(ValidationError, match="http"):
            Channel(kind="webhook", target=target)
    for kind in ("telegram", "discord"):
        with pytest.raises(ValidationError, match="numeric id"):
            Channel.model_validate({"kind": kind, "target": "@someone"})
    assert Channel(kind="telegram", target="-1001234").target == "-1001234"
    assert Channel(kind="webhook", target="https://example.test/h").kind == "webhook"


def test_urls_normalise_like_subscriptions_store_them() -> None:
    assert normalise_url("https://example.test") == "https://example.test/"
    assert normalise_url("https://example.test/hook") == "https://example.test/hook"
    assert normalise_url("not a url") is None
    assert normalise_url("ftp://example.test/x") is None


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    b = Backoff(base_s=1.0, max_s=8.0, jitter_s=0.5)
    assert b.delay(1, rand=lambda: 0.0) == 0.5
    assert b.delay(1, rand=lambda: 1.0) == 1.0
    assert b.delay(3, rand=lambda: 1.0) == 4.0
    assert b.delay(10, rand=lambda: 1.0) == 8.0
    assert b.delay(2, retry_after=3.0, rand=lambda: 0.0) == 3.0
    assert b.delay(2, retry_after=3.0, rand=lambda: 1.0) == 3.5


def test_alert_text_says_what_happened() -> None:
    text = alert_text(alert())
    assert "BTCUSDT above 70000: now 70100.5" in text
    assert "rule r1" in text
    pct = alert(
        condition=Condition(kind="pct_change", threshold=Decimal(5), window_s=60),
        change_pct=Decimal("5.25"),
    )
    assert "moved 5.25% in 60s (threshold 5%)" in alert_text(pct)


def test_retry_after_header_in_seconds_or_as_a_date() -> None:
    now = T0.timestamp()
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s("Sun, 01 Mar 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_s("soon", now) is None
    assert retry_after_s(None, now) is None


def test_config_refuses_loops_and_leases_shorter_than_a_send() -> None:
    assert "ixo.alert.triggered.v1" in NotifierConfig().subscribable_types
    with pytest.raises(ValueError, match="loop"):
        NotifierConfig(webhook_topics=(ALERT_MATCHES, NOTIFY_DELIVERIES))
    with pytest.raises(ValueError, match="lease_s"):
        NotifierConfig(lease_s=5, send_timeout_s=10)
