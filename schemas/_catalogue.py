"""The topic catalogue: the single source of truth for topic names, keys, partitions, retention
and the event types each topic carries. Code refers to these entries, never to string literals.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from schemas._alerts import (
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AlertTriggeredV1,
)
from schemas._base import EventData
from schemas._chain import (
    ChainContractDeployedV1,
    ChainContractUpgradedV1,
    ChainLogObservedV1,
    ChainTxConfirmedV1,
    ChainTxFailedV1,
    ChainTxSubmittedV1,
    ChainWatchAddedV1,
    ChainWatchRemovedV1,
)
from schemas._chat import (
    AgentToolCalledV1,
    ChatMessageReceivedV1,
    ChatResponseCompletedV1,
    ChatResponseDeltaV1,
)
from schemas._errors import UnknownTopic
from schemas._market import MarketTickV1
from schemas._notify import NotificationDeliveredV1, NotificationFailedV1
from schemas._ops import DeadLetterRequeuedV1
from schemas._rag import RagDocumentIndexedV1, RagDocumentSubmittedV1
from schemas._social import SocialPostScrapedV1
from schemas._subscriptions import (
    ScheduleCreatedV1,
    ScheduleDeletedV1,
    SubscriptionCreatedV1,
    SubscriptionDeletedV1,
    TaskDueV1,
    UserLinkedV1,
)
from schemas._users import UserCreatedV1, UserDeletedV1

DAY_MS = 24 * 3600 * 1000
DLQ_SUFFIX = ".dlq"
DLQ_RETENTION_MS = 30 * DAY_MS


@dataclass(frozen=True)
class Topic:
    """One catalogue topic. ``name`` is the catalogue name; ``full_name(prefix)`` the Kafka name."""

    name: str
    key_field: str
    event_types: tuple[type[EventData], ...]
    partitions: int = 3
    retention_ms: int | None = None
    compacted: bool = False
    description: str = ""
    is_dlq: bool = field(default=False, compare=False)

    def full_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}"

    @property
    def dlq(self) -> Topic:
        """The dead-letter topic of this topic (records as they came, plus error headers)."""
        if self.is_dlq:
            return self
        return Topic(
            name=self.name + DLQ_SUFFIX,
            key_field=self.key_field,
            event_types=(),
            partitions=self.partitions,
            retention_ms=DLQ_RETENTION_MS,
            description=f"Dead letters of {self.name}",
            is_dlq=True,
        )

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(t.event_type for t in self.event_types)

    def kafka_config(self) -> dict[str, str]:
        """Topic-level Kafka configuration (cleanup policy and retention)."""
        if self.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms or -1)}

    @property
    def retention_label(self) -> str:
        if self.compacted:
            return "compacted"
        if self.retention_ms is None:
            return "forever"
        return f"{self.retention_ms // DAY_MS} d"


CHAT_REQUESTS = Topic(
    "ixo.chat.requests",
    "session_id",
    (ChatMessageReceivedV1,),
    retention_ms=7 * DAY_MS,
    description="Chat messages from users, on every channel",
)
CHAT_RESPONSES = Topic(
    "ixo.chat.responses",
    "session_id",
    (ChatResponseDeltaV1, ChatResponseCompletedV1, AgentToolCalledV1),
    retention_ms=7 * DAY_MS,
    description="Streamed agent answers and the tool calls made for them",
)
MARKET_TICKS = Topic(
    "ixo.market.ticks",
    "symbol",
    (MarketTickV1,),
    partitions=6,
    retention_ms=3 * DAY_MS,
    description="Price ticks from market feeds",
)
ALERT_RULES = Topic(
    "ixo.alerts.rules",
    "rule_id",
    (AlertRuleCreatedV1, AlertRuleUpdatedV1, AlertRuleDeletedV1),
    compacted=True,
    description="Price-alert rule lifecycle (compacted: the latest per rule)",
)
ALERT_MATCHES = Topic(
    "ixo.alerts.matches",
    "user_id",
    (AlertTriggeredV1,),
    retention_ms=30 * DAY_MS,
    description="Rule matches; external systems subscribe here",
)
NOTIFY_DELIVERIES = Topic(
    "ixo.notify.deliveries",
    "match_id",
    (NotificationDeliveredV1, NotificationFailedV1),
    retention_ms=7 * DAY_MS,
    description="Outcome of each notification",
)
SOCIAL_POSTS = Topic(
    "ixo.social.posts",
    "post_id",
    (SocialPostScrapedV1,),
    retention_ms=7 * DAY_MS,
    description="Scraped social posts",
)
RAG_DOCUMENTS = Topic(
    "ixo.rag.documents",
    "doc_id",
    (RagDocumentSubmittedV1, RagDocumentIndexedV1),
    retention_ms=7 * DAY_MS,
    description="Documents for the knowledge base",
)
CHAIN_WATCHES = Topic(
    "ixo.chain.watches",
    "address",
    (ChainWatchAddedV1, ChainWatchRemovedV1),
    compacted=True,
    description="Contract addresses the chain listener follows (compacted)",
)
CHAIN_LOGS = Topic(
    "ixo.chain.logs",
    "address",
    (ChainLogObservedV1,),
    retention_ms=30 * DAY_MS,
    description="Decoded smart-contract logs, with reorg retractions",
)
CHAIN_CONTRACTS = Topic(
    "ixo.chain.contracts",
    "address",
    (ChainContractDeployedV1, ChainContractUpgradedV1),
    compacted=True,
    description="Deployment records of our proxies: address, implementation (compacted)",
)
CHAIN_TXS = Topic(
    "ixo.chain.txs",
    "tx_id",
    (ChainTxSubmittedV1, ChainTxConfirmedV1, ChainTxFailedV1),
    retention_ms=30 * DAY_MS,
    description="Transactions the platform sends: submitted, confirmed or failed",
)

# Catalogue extensions beyond DESIGN.md's table (docs/DESIGN.md lists them too).
NOTIFY_SUBSCRIPTIONS = Topic(
    "ixo.notify.subscriptions",
    "subscription_id",
    (SubscriptionCreatedV1, SubscriptionDeletedV1),
    compacted=True,
    description="Webhook subscriptions of external systems (compacted)",
)
USER_LINKS = Topic(
    "ixo.users.links",
    "link_id",
    (UserLinkedV1,),
    compacted=True,
    description="Chat-platform accounts linked to Impressox users (compacted)",
)
USERS = Topic(
    "ixo.users",
    "user_id",
    (UserCreatedV1, UserDeletedV1),
    compacted=True,
    description="Users (compacted); their credentials are never on a topic",
)
SCHEDULES = Topic(
    "ixo.schedules",
    "schedule_id",
    (ScheduleCreatedV1, ScheduleDeletedV1),
    compacted=True,
    description="Users' recurring tasks (compacted)",
)
TASKS_DUE = Topic(
    "ixo.tasks.due",
    "task_id",
    (TaskDueV1,),
    retention_ms=7 * DAY_MS,
    description="Time slots of scheduled tasks that are due",
)
DLQ_REQUEUES = Topic(
    "ixo.dlq.requeues",
    "dead_letter_id",
    (DeadLetterRequeuedV1,),
    compacted=True,
    description="Dead letters published again by an operator, one record each (compacted)",
)


class Catalogue:
    """Lookup over the catalogue topics and their dead-letter topics."""

    def __init__(self, topics: tuple[Topic, ...]) -> None:
        self._topics = topics
        self._by_name: dict[str, Topic] = {}
        self._by_type: dict[str, Topic] = {}
        self._payloads: dict[str, type[EventData]] = {}
        for topic in topics:
            self._by_name[topic.name] = topic
            self._by_name[topic.dlq.name] = topic.dlq
            for payload in topic.event_types:
                if payload.event_type in self._by_type:
                    msg = f"event type {payload.event_type} is listed on two topics"
                    raise ValueError(msg)
                if payload.key_field != topic.key_field:
                    msg = (
                        f"{payload.event_type} is keyed by {payload.key_field}, "
                        f"{topic.name} by {topic.key_field}"
                    )
                    raise ValueError(msg)
                self._by_type[payload.event_type] = topic
                self._payloads[payload.event_type] = payload

    def __iter__(self) -> Iterator[Topic]:
        return iter(self._topics)

    def all_topics(self) -> tuple[Topic, ...]:
        """Every topic and its dead-letter topic."""
        return tuple(t for topic in self._topics for t in (topic, topic.dlq))

    def topic(self, name: str, prefix: str = "") -> Topic:
        """A topic by catalogue name or by its prefixed Kafka name."""
        if prefix and name.startswith(prefix):
            name = name[len(prefix) :]
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(t.name for t in self._topics)
            msg = f"unknown topic {name!r}; known topics: {known}"
            raise UnknownTopic(msg) from None

    def topic_for_type(self, event_type: str) -> Topic:
        try:
            return self._by_type[event_type]
        except KeyError:
            msg = f"unknown event type {event_type!r}"
            raise UnknownTopic(msg) from None

    def payload(self, event_type: str) -> type[EventData] | None:
        return self._payloads.get(event_type)

    @property
    def event_types(self) -> dict[str, type[EventData]]:
        return dict(self._payloads)


WEBHOOK_TOPICS: tuple[Topic, ...] = (ALERT_MATCHES,)
"""Topics the notifier delivers to webhook subscriptions."""

SUBSCRIBABLE_TYPES: frozenset[str] = frozenset(
    t for topic in WEBHOOK_TOPICS for t in topic.type_names
)
"""Event types a webhook subscription may ask for."""

CATALOGUE = Catalogue(
    (
        CHAT_REQUESTS,
        CHAT_RESPONSES,
        MARKET_TICKS,
        ALERT_RULES,
        ALERT_MATCHES,
        NOTIFY_DELIVERIES,
        SOCIAL_POSTS,
        RAG_DOCUMENTS,
        CHAIN_WATCHES,
        CHAIN_LOGS,
        CHAIN_CONTRACTS,
        CHAIN_TXS,
        NOTIFY_SUBSCRIPTIONS,
        USER_LINKS,
        USERS,
        SCHEDULES,
        TASKS_DUE,
        DLQ_REQUEUES,
    )
)
