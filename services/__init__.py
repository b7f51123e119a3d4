"""The service layer: every user command and query, shared by every client.

The gateway's routes, the CLI's user commands, the bots and the agent's tools call only this
layer; each command has exactly one route to Kafka. Commands publish events (the projector folds
them into read models); queries read the read models through :class:`readmodels.ReadModels`.
"""

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
    "MEDIA_TYPES",
    "SESSION_TTL_S",
    "AlertService",
    "ChatService",
    "DocumentService",
    "IdentityService",
    "LinkCode",
    "LinkService",
    "NewToken",
    "NotFound",
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
    "deliverable_kinds",
    "describe_schedule",
    "doc_id_for",
    "media_type_for",
    "new_secret",
    "next_run",
    "parse_document",
    "parse_draft",
    "parse_input",
    "parse_schedule",
    "parse_subscription",
    "rule_view",
    "saved_payload",
    "schedule_id_for",
    "schedule_view",
    "subscription_view",
]
