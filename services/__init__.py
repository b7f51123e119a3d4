"""The service layer: every user command and query, shared by every client.

The gateway's routes, the CLI's user commands, the bots and the agent's tools call only this
layer; each command has exactly one route to Kafka. Commands publish events (the projector folds
them into read models); queries read the read models through :class:`readmodels.ReadModels`.
"""

from consumers.embedder import (
    KnowledgeHit,
    KnowledgeSearch,
    KnowledgeUnavailable,
    SearchFilters,
)
from services._chat import ChatService, Submitted
from services._commands import NotFound, Publisher, Receipt, parse_input
from services._documents import (
    MEDIA_TYPES,
    DocumentService,
    doc_id_for,
    media_type_for,
    parse_document,
)
from services._identity import (
    SESSION_TTL_S,
    IdentityService,
    LinkCode,
    NewToken,
    Principal,
    Session,
    TokenInfo,
    TooManyAttempts,
    UnknownUser,
)
from services._knowledge import (
    MAX_K,
    MAX_POSTS,
    MAX_QUERY_CHARS,
    KnowledgeQuery,
    KnowledgeService,
    PostsQuery,
    citation,
    hit_view,
    post_view,
)
from services._links import LinkService
from services._market import AlertService, PriceService
from services._platform import Services, deliverable_kinds
from services._rules import (
    RuleDraft,
    RuleNotFound,
    RuleService,
    parse_draft,
    rule_view,
    saved_payload,
)
from services._schedules import (
    ScheduleDraft,
    ScheduleNotFound,
    ScheduleService,
    check_draft,
    describe_schedule,
    next_run,
    parse_schedule,
    schedule_id_for,
    schedule_view,
)
from services._subscriptions import (
    SubscriptionDraft,
    SubscriptionNotFound,
    SubscriptionService,
    new_secret,
    parse_subscription,
    subscription_view,
)

__all__ = [
    "MAX_K",
    "MAX_POSTS",
    "MAX_QUERY_CHARS",
    "MEDIA_TYPES",
    "SESSION_TTL_S",
    "AlertService",
    "ChatService",
    "DocumentService",
    "IdentityService",
    "KnowledgeHit",
    "KnowledgeQuery",
    "KnowledgeSearch",
    "KnowledgeService",
    "KnowledgeUnavailable",
    "LinkCode",
    "LinkService",
    "NewToken",
    "NotFound",
    "PostsQuery",
    "PriceService",
    "Principal",
    "Publisher",
    "Receipt",
    "RuleDraft",
    "RuleNotFound",
    "RuleService",
    "ScheduleDraft",
    "ScheduleNotFound",
    "ScheduleService",
    "SearchFilters",
    "Services",
    "Session",
    "Submitted",
    "SubscriptionDraft",
    "SubscriptionNotFound",
    "SubscriptionService",
    "TokenInfo",
    "TooManyAttempts",
    "UnknownUser",
    "check_draft",
    "citation",
    "deliverable_kinds",
    "describe_schedule",
    "doc_id_for",
    "hit_view",
    "media_type_for",
    "new_secret",
    "next_run",
    "parse_document",
    "parse_draft",
    "parse_input",
    "parse_schedule",
    "parse_subscription",
    "post_view",
    "rule_view",
    "saved_payload",
    "schedule_id_for",
    "schedule_view",
    "subscription_view",
]
