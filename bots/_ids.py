"""Deterministic ids: every event a bot publishes takes its id from the platform's own id of the
delivery (Telegram ``update_id``, Discord interaction id), and so does a rule a command creates.
An update delivered twice (a restart during long polling, a retried interaction) therefore
yields the same event id and the same rule id, which downstream consumers deduplicate."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Final

from bots._types import BotPlatform, Origin

NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:impressox:bots")
RULE_ID_CHARS: Final = 12


def delivery_event_id(platform: BotPlatform, delivery_id: str) -> str:
    """The event id of what a delivery publishes: ``uuid5(NAMESPACE, "<platform>:<id>")``."""
    return str(uuid.uuid5(NAMESPACE, f"{platform}:{delivery_id}"))


def event_id_of(origin: Origin) -> str:
    return delivery_event_id(origin.platform, origin.delivery_id)


def rule_id_for(event_id: str) -> str:
    """A short rule id derived from the event id of the command that creates the rule.

    ``r-`` and 12 base32 characters (60 bits of SHA-256): short enough to type in ``/unalert``.
    """
    digest = hashlib.sha256(f"rule:{event_id}".encode()).digest()
    return "r-" + base64.b32encode(digest).decode("ascii").lower()[:RULE_ID_CHARS]


def link_id(platform: BotPlatform, platform_user_id: str) -> str:
    """The key of ``ixo.user.linked.v1``: ``<platform>:<platform user id>``."""
    return f"{platform}:{platform_user_id}"
