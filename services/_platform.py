"""Every service of the platform over one publisher and one read-model database: what a client
(the gateway, the CLI, a bot, the orchestrator's tools) holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from consumers.embedder import KnowledgeSearch
from consumers.rule_engine import TickHistory
from infra.net import OutboundGuard
from infra.redis import key_prefix
from infra.secrets import secret_box
from infra.settings import Settings
from readmodels import ReadModels
from services._chat import ChatService
from services._commands import Publisher
from services._documents import DocumentService
from services._identity import IdentityService
from services._knowledge import KnowledgeService
from services._links import LinkService
from services._market import AlertService, PriceService
from services._ops import OpsService
from services._rules import RuleService
from services._schedules import ScheduleService
from services._subscriptions import SubscriptionService


def deliverable_kinds(settings: Settings) -> frozenset[str]:
    """The channel kinds the notifier can deliver with these settings."""
    kinds = {"webhook"}
    if settings.telegram_token.get_secret_value():
        kinds.add("telegram")
    if settings.discord_token.get_secret_value():
        kinds.add("discord")
    return frozenset(kinds)


@dataclass(frozen=True)
class Services:
    reads: ReadModels
    rules: RuleService
    schedules: ScheduleService
    subscriptions: SubscriptionService
    prices: PriceService
    alerts: AlertService
    chat: ChatService
    links: LinkService
    identity: IdentityService
    documents: DocumentService
    knowledge: KnowledgeService
    ops: OpsService

    @classmethod
    def build(
        cls,
        publisher: Publisher,
        database: AsyncDatabase[dict[str, Any]],
        settings: Settings,
        *,
        source: str,
        history: TickHistory | None = None,
        redis: Redis | None = None,
        knowledge: KnowledgeSearch | None = None,
    ) -> Services:
        """``redis`` holds sessions, link codes and sign-in counters (identity needs it for
        those; everything else works without). ``knowledge`` is the knowledge store's search
        (the embedder's); without it a search answers :class:`KnowledgeUnavailable`."""
        reads = ReadModels(database)
        links = LinkService(publisher, source=source)
        return cls(
            reads=reads,
            rules=RuleService(
                publisher,
                reads,
                source=source,
                history=history,
                deliverable=deliverable_kinds(settings),
            ),
            schedules=ScheduleService(publisher, reads, source=source),
            subscriptions=SubscriptionService(
                publisher,
                reads,
                source=source,
                secrets=secret_box(settings),
                guard=OutboundGuard.from_settings(settings),
            ),
            prices=PriceService(reads),
            alerts=AlertService(reads),
            chat=ChatService(publisher, reads, settings, source=source, redis=redis),
            links=links,
            identity=IdentityService(
                publisher,
                reads,
                database,
                redis,
                source=source,
                key_prefix=key_prefix(settings, "identity"),
                links=links,
            ),
            documents=DocumentService(
                publisher, source=source, max_bytes=settings.ingest_max_bytes
            ),
            knowledge=KnowledgeService(reads, knowledge),
            ops=OpsService(settings, database, redis),
        )
