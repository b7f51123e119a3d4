"""The command layer both bots share: a parsed command from a delivery becomes events (rule
events through :class:`producers.rules.RuleService`, schedule events through
:class:`producers.schedules.ScheduleService`, chat requests, user links) and a reply.

Bots publish events only. Every event id derives from the delivery (:mod:`bots._ids`) and the
effectful commands run through a :class:`bots.OnceStore`, so a delivery handled twice publishes
once and answers the same both times.
"""

from __future__ import annotations

import logging
from typing import Final

from aiokafka.errors import KafkaError
from pymongo.errors import PyMongoError

from bots._commands import (
    AlertCreate,
    AlertDelete,
    AlertList,
    BadCommand,
    ChatText,
    Command,
    HelpRequest,
    PriceQuery,
    ScheduleCreate,
    ScheduleDelete,
    ScheduleList,
    StartLink,
    usage,
)
from bots._ids import default_user_id, event_id_of, link_id, rule_id_for
from bots._replies import (
    alert_created_text,
    alert_deleted_text,
    alerts_text,
    linked_text,
    no_rule_text,
    no_schedule_text,
    price_text,
    schedule_created_text,
    schedule_deleted_text,
    schedules_text,
)
from bots._sessions import session_id, user_of
from bots._types import LinkStore, MarketReads, OnceStore, Origin, Reply
from infra.kafka import EventPublisher
from producers.rules import RuleNotFound, RuleService, parse_draft
from producers.schedules import (
    ScheduleNotFound,
    ScheduleService,
    parse_schedule,
    schedule_id_for,
)
from schemas import (
    CHAT_REQUESTS,
    USER_LINKS,
    ChatMessageReceivedV1,
    CloudEvent,
    InvalidEvent,
    TransientError,
    UserLinkedV1,
)

log = logging.getLogger(__name__)

RECENT_ALERTS: Final = 5


class BotService:
    """Executes commands for one platform's bot. Stateless: any number of bot processes can
    share the work."""

    def __init__(
        self,
        publisher: EventPublisher,
        rules: RuleService,
        links: LinkStore,
        once: OnceStore,
        reads: MarketReads,
        *,
        source: str,
        schedules: ScheduleService | None = None,
    ) -> None:
        self._publisher = publisher
        self._rules = rules
        self._links = links
        self._once = once
        self._reads = reads
        self._source = source
        self._schedules = schedules or ScheduleService(publisher, source=source)

    async def handle(self, origin: Origin, command: Command) -> Reply:
        """Run ``command`` and return the reply; :class:`TransientError` when a dependency
        (Kafka, MongoDB, Redis) is down, so the caller can retry the same delivery."""
        try:
            return await self._dispatch(origin, command)
        except KafkaError as exc:
            msg = f"Kafka unavailable: {exc}"
            raise TransientError(msg) from None
        except PyMongoError as exc:
            msg = f"MongoDB unavailable: {exc}"
            raise TransientError(msg) from None

    async def _dispatch(self, origin: Origin, command: Command) -> Reply:  # noqa: PLR0911
        if isinstance(command, BadCommand):
            return Reply(command.message)
        if isinstance(command, HelpRequest):
            return Reply(usage())
        if isinstance(command, PriceQuery):
            return Reply(price_text(command.symbol, await self._reads.price(command.symbol)))
        if isinstance(command, AlertList):
            return await self._list(origin)
        if isinstance(command, ScheduleList):
            return await self._schedules_list(origin)
        event_id = event_id_of(origin)
        if isinstance(command, AlertCreate):
            return await self._once.run(event_id, lambda: self._create(origin, event_id, command))
        if isinstance(command, AlertDelete):
            return await self._once.run(event_id, lambda: self._delete(origin, event_id, command))
        if isinstance(command, ScheduleCreate):
            return await self._once.run(event_id, lambda: self._schedule(origin, event_id, command))
        if isinstance(command, ScheduleDelete):
            return await self._once.run(
                event_id, lambda: self._unschedule(origin, event_id, command)
            )
        if isinstance(command, StartLink):
            return await self._once.run(event_id, lambda: self._link(origin, event_id, command))
        chat: ChatText = command
        return await self._once.run(event_id, lambda: self._chat(origin, event_id, chat))

    async def _list(self, origin: Origin) -> Reply:
        user_id = await user_of(origin, self._links)
        rules = await self._rules.list(user_id)
        recent = await self._reads.recent_alerts(user_id, RECENT_ALERTS)
        return Reply(alerts_text(rules, recent))

    async def _create(self, origin: Origin, event_id: str, command: AlertCreate) -> Reply:
        user_id = await user_of(origin, self._links)
        rule_id = rule_id_for(event_id)
        text = alert_created_text(rule_id, command.symbol, command.condition)
        if await self._rules.get(rule_id) is not None:
            # This delivery's rule exists already (published before a crash): nothing to do.
            return Reply(text)
        try:
            draft = parse_draft(
                {
                    "rule_id": rule_id,
                    "user_id": user_id,
                    "symbol": command.symbol,
                    "condition": command.condition,
                    "channels": [{"kind": origin.platform, "target": origin.chat_id}],
                }
            )
        except InvalidEvent as exc:
            return Reply(f"{exc}\n{usage('alert')}")
        receipt = await self._rules.save(draft, correlation_id=event_id)
        log.info(
            "alert rule created from a bot command",
            extra={"rule_id": rule_id, "user_id": user_id, "event_id": receipt.event.id},
        )
        return Reply(text)

    async def _delete(self, origin: Origin, event_id: str, command: AlertDelete) -> Reply:
        user_id = await user_of(origin, self._links)
        try:
            await self._rules.delete(command.rule_id, user_id=user_id, correlation_id=event_id)
        except RuleNotFound:
            return Reply(no_rule_text(command.rule_id))
        return Reply(alert_deleted_text(command.rule_id))

    async def _schedules_list(self, origin: Origin) -> Reply:
        user_id = await user_of(origin, self._links)
        return Reply(schedules_text(await self._schedules.list(user_id)))

    async def _schedule(self, origin: Origin, event_id: str, command: ScheduleCreate) -> Reply:
        """The schedule's id and event id derive from the delivery: a redelivered command
        publishes the same event, and the schedule's results go back to this chat."""
        user_id = await user_of(origin, self._links)
        schedule_id = schedule_id_for(event_id)
        try:
            draft = parse_schedule(
                {
                    "user_id": user_id,
                    "task": "prompt" if command.prompt is not None else "alert_digest",
                    "cron": command.cron,
                    "every_s": command.every_s,
                    "timezone": command.timezone,
                    "prompt": command.prompt,
                    "channel": origin.platform,
                    "chat_id": origin.chat_id,
                }
            )
        except InvalidEvent as exc:
            return Reply(f"{exc}\n{usage('schedule')}")
        receipt = await self._schedules.create(
            draft, schedule_id=schedule_id, correlation_id=event_id, event_id=event_id
        )
        log.info(
            "schedule created from a bot command",
            extra={"schedule_id": schedule_id, "user_id": user_id, "event_id": receipt.event.id},
        )
        return Reply(schedule_created_text(schedule_id, draft))

    async def _unschedule(self, origin: Origin, event_id: str, command: ScheduleDelete) -> Reply:
        user_id = await user_of(origin, self._links)
        try:
            await self._schedules.delete(
                command.schedule_id, user_id=user_id, correlation_id=event_id, event_id=event_id
            )
        except ScheduleNotFound:
            return Reply(no_schedule_text(command.schedule_id))
        return Reply(schedule_deleted_text(command.schedule_id))

    async def _link(self, origin: Origin, event_id: str, command: StartLink) -> Reply:
        user_id = command.user_id or default_user_id(origin.platform, origin.platform_user_id)
        data = UserLinkedV1(
            link_id=link_id(origin.platform, origin.platform_user_id),
            platform=origin.platform,
            platform_user_id=origin.platform_user_id,
            chat_id=origin.chat_id,
            user_id=user_id,
        )
        event = CloudEvent.new(data, source=self._source, event_id=event_id)
        meta = await self._publisher.publish(event, USER_LINKS)
        await self._links.put(data, partition=meta.partition, offset=meta.offset)
        return Reply(linked_text(user_id))

    async def _chat(self, origin: Origin, event_id: str, command: ChatText) -> Reply:
        user_id = await user_of(origin, self._links)
        data = ChatMessageReceivedV1(
            session_id=session_id(origin.platform, origin.chat_id),
            user_id=user_id,
            channel=origin.platform,
            text=command.text,
        )
        event = CloudEvent.new(data, source=self._source, event_id=event_id)
        await self._publisher.publish(event, CHAT_REQUESTS)
        return Reply(request_id=event_id)
