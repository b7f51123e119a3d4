"""Pure routing decisions: which channels an alert goes to, which subscriptions an event goes
to, and the dedupe keys of both."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from pydantic import HttpUrl, TypeAdapter, ValidationError

from consumers.notifier._types import RuleRoute, SubscriptionRoute
from schemas import AlertTriggeredV1, AnyEvent, Channel

_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)
DIGEST_CHARS = 24


def normalise_url(text: str) -> str | None:
    """The URL as a subscription stores it (pydantic's ``HttpUrl``), or None if not http(s)."""
    try:
        return str(_URL.validate_python(text))
    except ValidationError:
        return None


def channel_digest(channel: Channel) -> str:
    raw = f"{channel.kind}\x1f{channel.target}".encode()
    return hashlib.sha256(raw).hexdigest()[:DIGEST_CHARS]


def alert_key(match_id: str, channel: Channel) -> str:
    """Dedupe key of an alert on one of its rule's channels."""
    return f"m:{match_id}:{channel_digest(channel)}"


def delivery_id(event: AnyEvent) -> str:
    """What an event's deliveries are deduplicated by: an alert's ``match_id`` (a match is one
    notification however many times it is published), any other event's id."""
    match_id: Any = getattr(event.data, "match_id", None)
    return match_id if isinstance(match_id, str) else event.id


def webhook_key(delivery: str, owner: str, url: str) -> str:
    """Dedupe key of a webhook delivery: one POST per (event, owner, URL), whether a rule's
    webhook channel or a subscription (or both, or two subscriptions) routes it there."""
    digest = hashlib.sha256(f"{owner}\x1f{url}".encode()).hexdigest()[:DIGEST_CHARS]
    return f"w:{delivery}:{digest}"


def channels_for_alert(alert: AlertTriggeredV1, route: RuleRoute | None) -> tuple[Channel, ...]:
    """The channels of the rule that fired, without duplicates; none when the rule is unknown or
    was deleted before the alert fired."""
    if route is None:
        return ()
    if route.deleted_at is not None and alert.triggered_at > route.deleted_at:
        return ()
    seen: dict[tuple[str, str], Channel] = {}
    for channel in route.channels:
        seen.setdefault((channel.kind, channel.target), channel)
    return tuple(seen.values())


def event_owner(event: AnyEvent) -> str | None:
    """The user an event belongs to (its ``data.user_id``), or None for public events."""
    owner: Any = getattr(event.data, "user_id", None)
    return owner if isinstance(owner, str) else None


def wants(subscription: SubscriptionRoute, event: AnyEvent) -> bool:
    """A subscription gets an event of a type it asked for, published after it was created,
    that is its owner's (events with a ``user_id``) or public (events without one); an
    operator's ``all_users`` subscription gets every user's."""
    if event.type not in subscription.event_types or event.time < subscription.since:
        return False
    owner = event_owner(event)
    return owner is None or subscription.all_users or owner == subscription.owner


def subscribers(
    subscriptions: Iterable[SubscriptionRoute], event: AnyEvent
) -> list[SubscriptionRoute]:
    return [s for s in subscriptions if wants(s, event)]
