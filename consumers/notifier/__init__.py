"""The notifier: alerts to their rules' channels (Telegram, Discord, signed webhooks) and
subscribed events to webhook subscriptions, deduplicated in Redis, retried with backoff,
rate-limited per user, each ending in exactly one ``ixo.notification.delivered.v1`` or
``ixo.notification.failed.v1``.

The FastStream app lives in :mod:`consumers.notifier.app`; this package's public API is the core,
the adapters and the webhook signature helpers (``sign``/``verify``), usable without a broker.
"""

from consumers.notifier._backoff import Backoff
from consumers.notifier._discord import DiscordSender
from consumers.notifier._errors import DeliveryError, RejectedDelivery, RetryableDelivery
from consumers.notifier._notifier import (
    OUTCOME_NAMESPACE,
    Notifier,
    NotifierConfig,
    outcome_event,
)
from consumers.notifier._redis import (
    RedisDirectory,
    RedisLedger,
    RedisParking,
    RedisRateLimiter,
)
from consumers.notifier._render import alert_text, event_text
from consumers.notifier._routing import (
    alert_key,
    channels_for_alert,
    delivery_id,
    normalise_url,
    wants,
    webhook_key,
)
from consumers.notifier._signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TOLERANCE_S,
    sign,
    signature,
    verify,
)
from consumers.notifier._telegram import TelegramSender, telegram_bot
from consumers.notifier._types import (
    Claim,
    Directory,
    Job,
    Ledger,
    Outcome,
    OutcomeSink,
    Parking,
    RateLimiter,
    RuleRoute,
    Sender,
    SubscriptionRoute,
    TargetGuard,
)
from consumers.notifier._webhook import WebhookSender
from schemas import SUBSCRIBABLE_TYPES, WEBHOOK_TOPICS

__all__ = [
    "EVENT_ID_HEADER",
    "OUTCOME_NAMESPACE",
    "SIGNATURE_HEADER",
    "SUBSCRIBABLE_TYPES",
    "TOLERANCE_S",
    "WEBHOOK_TOPICS",
    "Backoff",
    "Claim",
    "DeliveryError",
    "Directory",
    "DiscordSender",
    "Job",
    "Ledger",
    "Notifier",
    "NotifierConfig",
    "Outcome",
    "OutcomeSink",
    "Parking",
    "RateLimiter",
    "RedisDirectory",
    "RedisLedger",
    "RedisParking",
    "RedisRateLimiter",
    "RejectedDelivery",
    "RetryableDelivery",
    "RuleRoute",
    "Sender",
    "SubscriptionRoute",
    "TargetGuard",
    "TelegramSender",
    "WebhookSender",
    "alert_key",
    "alert_text",
    "channels_for_alert",
    "delivery_id",
    "event_text",
    "normalise_url",
    "outcome_event",
    "sign",
    "signature",
    "telegram_bot",
    "verify",
    "wants",
    "webhook_key",
]
