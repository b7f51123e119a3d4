"""Webhook subscription commands shared by the gateway, the CLI and the bots."""

from producers.subscriptions._service import (
    SubscriptionDraft,
    SubscriptionNotFound,
    SubscriptionReceipt,
    SubscriptionService,
    new_secret,
    parse_subscription,
    subscription_view,
)

__all__ = [
    "SubscriptionDraft",
    "SubscriptionNotFound",
    "SubscriptionReceipt",
    "SubscriptionService",
    "new_secret",
    "parse_subscription",
    "subscription_view",
]
