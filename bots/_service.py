"""The command layer both bots share: a parsed command from a delivery becomes a call of the
service layer (:class:`services.Services`: rules, schedules, chat, identity, prices, alerts) and
a reply.

A chat account acts as the Impressox user it is linked to, and only after it linked: ``/start
CODE`` or ``/link CODE`` redeems a one-time code the user got while signed in
(:meth:`services.IdentityService.redeem_link_code`), and the link (``ixo.users.links``, cached in
Redis) is the only source of the user id. An account that is not linked may ask for ``/help``
and ``/price``; every other command answers "link this account first" and publishes nothing.

Bots publish events only. Every event id derives from the delivery (:mod:`bots._ids`) and the
effectful commands run through a :class:`bots.OnceStore`, so a delivery handled twice publishes
once and answers the same both times.
"""

from __future__ import annotations

import logging
from typing import Final

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
from bots._ids import event_id_of, link_id, rule_id_for
from bots._replies import (
    alert_created_text,
    alert_deleted_text,
    alerts_text,
    bad_code_text,
    how_to_link_text,
    link_first_text,
    linked_text,
    no_rule_text,
    no_schedule_text,
    price_text,
    schedule_created_text,
    schedule_deleted_text,
    schedules_text,
    wait_text,
)
from bots._sessions import session_id, user_of
from bots._types import AlertView, LinkStore, OnceStore, Origin, PriceView, Reply
from schemas import InvalidEvent, UserLinkedV1
from services import (
    RuleNotFound,
    ScheduleNotFound,
    Services,
    TooManyAttempts,
    parse_draft,
    parse_schedule,
    schedule_id_for,
)

log = logging.getLogger(__name__)

RECENT_ALERTS: Final = 5
UNRESOLVED_USER: Final = "unresolved"
"""The ``user_id`` of a link before its code is redeemed: the identity service replaces it with
the code's user (it is never published)."""


class BotService:
    """Executes commands for one platform's bot. Stateless: any number of bot processes can
    share the work."""

    def __init__(self, services: Services, links: LinkStore, once: OnceStore) -> None:
        self._services = services
        self._links = links
        self._once = once

    async def handle(self, origin: Origin, command: Command) -> Reply:
        """Run ``command`` and return the reply; :class:`TransientError` when a dependency
        (Kafka, MongoDB, Redis) is down, so the caller can retry the same delivery (the
        adapters map their errors: nothing here knows a driver)."""
        return await self._dispatch(origin, command)

    async def _price(self, symbol: str) -> Reply:
        try:
            price = await self._services.prices.get(symbol)
        except ValueError as exc:
            return Reply(f"{exc}\n{usage('price')}")
        view = (
            None if price is None else PriceView(price.symbol, price.price, price.venue, price.ts)
        )
        return Reply(price_text(price.symbol if price else symbol.upper(), view))

    async def _dispatch(self, origin: Origin, command: Command) -> Reply:  # noqa: PLR0911
        if isinstance(command, BadCommand):
            return Reply(command.message)
        if isinstance(command, HelpRequest):
            return Reply(usage())
        if isinstance(command, PriceQuery):
            return await self._price(command.symbol)
        if isinstance(command, StartLink):
            return await self._start(origin, command)
        # Everything else acts for the linked user, and for nobody else.
        user_id = await user_of(origin, self._links)
        if user_id is None:
            return Reply(link_first_text())
        if isinstance(command, AlertList):
            return await self._list(user_id)
        if isinstance(command, ScheduleList):
            return await self._schedules_list(user_id)
        event_id = event_id_of(origin)
        if isinstance(command, AlertCreate):
            return await self._once.run(
                event_id, lambda: self._create(origin, user_id, event_id, command)
            )
        if isinstance(command, AlertDelete):
            return await self._once.run(event_id, lambda: self._delete(user_id, event_id, command))
        if isinstance(command, ScheduleCreate):
            return await self._once.run(
                event_id, lambda: self._schedule(origin, user_id, event_id, command)
            )
        if isinstance(command, ScheduleDelete):
            return await self._once.run(
                event_id, lambda: self._unschedule(user_id, event_id, command)
            )
        chat: ChatText = command
        return await self._once.run(event_id, lambda: self._chat(origin, user_id, event_id, chat))

    async def _list(self, user_id: str) -> Reply:
        rules = await self._services.rules.list(user_id)
        recent = [
            AlertView(a.rule_id, a.symbol, a.price, a.triggered_at)
            for a in await self._services.alerts.recent(user_id, limit=RECENT_ALERTS)
        ]
        return Reply(alerts_text(rules, recent))

    async def _create(
        self, origin: Origin, user_id: str, event_id: str, command: AlertCreate
    ) -> Reply:
        rule_id = rule_id_for(event_id)
        existing = await self._services.rules.get(rule_id)
        if existing is not None:
            # This delivery's rule exists already (published before a crash): nothing to do.
            return Reply(alert_created_text(rule_id, existing.symbol, command.condition))
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
        receipt = await self._services.rules.save(
            draft,
            correlation_id=event_id,
            trusted_chats={(origin.platform, origin.chat_id)},  # where this command came from
        )
        log.info(
            "alert rule created from a bot command",
            extra={"rule_id": rule_id, "user_id": user_id, "event_id": receipt.event.id},
        )
        text = alert_created_text(rule_id, draft.symbol, command.condition)
        return Reply("\n".join([text, *(f"Note: {w}" for w in receipt.warnings)]))

    async def _delete(self, user_id: str, event_id: str, command: AlertDelete) -> Reply:
        try:
            await self._services.rules.delete(
                command.rule_id, user_id=user_id, correlation_id=event_id
            )
        except RuleNotFound:
            return Reply(no_rule_text(command.rule_id))
        return Reply(alert_deleted_text(command.rule_id))

    async def _schedules_list(self, user_id: str) -> Reply:
        return Reply(schedules_text(await self._services.schedules.list(user_id)))

    async def _schedule(
        self, origin: Origin, user_id: str, event_id: str, command: ScheduleCreate
    ) -> Reply:
        """The schedule's id and event id derive from the delivery: a redelivered command
        publishes the same event, and the schedule's results go back to this chat."""
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
        receipt = await self._services.schedules.create(
            draft,
            schedule_id=schedule_id,
            correlation_id=event_id,
            event_id=event_id,
            trusted_chats={(origin.platform, origin.chat_id)},
        )
        log.info(
            "schedule created from a bot command",
            extra={"schedule_id": schedule_id, "user_id": user_id, "event_id": receipt.event.id},
        )
        return Reply(schedule_created_text(schedule_id, draft))

    async def _unschedule(self, user_id: str, event_id: str, command: ScheduleDelete) -> Reply:
        try:
            await self._services.schedules.delete(
                command.schedule_id, user_id=user_id, correlation_id=event_id, event_id=event_id
            )
        except ScheduleNotFound:
            return Reply(no_schedule_text(command.schedule_id))
        return Reply(schedule_deleted_text(command.schedule_id))

    async def _start(self, origin: Origin, command: StartLink) -> Reply:
        if command.code is None:
            return Reply(how_to_link_text(await user_of(origin, self._links)))
        code = command.code
        event_id = event_id_of(origin)
        return await self._once.run(event_id, lambda: self._redeem(origin, event_id, code))

    async def _redeem(self, origin: Origin, event_id: str, code: str) -> Reply:
        """Redeem ``code`` for this account: linked to the code's user, or refused (unknown,
        expired, used: one answer) with nothing published. The code is never logged."""
        account = UserLinkedV1(
            link_id=link_id(origin.platform, origin.platform_user_id),
            platform=origin.platform,
            platform_user_id=origin.platform_user_id,
            chat_id=origin.chat_id,
            user_id=UNRESOLVED_USER,
        )
        try:
            receipt = await self._services.identity.redeem_link_code(
                code, account, event_id=event_id
            )
        except TooManyAttempts as exc:
            log.warning(
                "link codes refused: too many wrong ones", extra={"link_id": account.link_id}
            )
            return Reply(wait_text(exc.retry_after_s))
        if receipt is None:
            log.info("link code refused", extra={"link_id": account.link_id})
            return Reply(bad_code_text())
        linked = receipt.event.data
        if not isinstance(linked, UserLinkedV1):  # pragma: no cover - the service's contract
            msg = f"redeeming a link code published {receipt.event.type}"
            raise TypeError(msg)
        await self._links.put(linked, partition=receipt.partition, offset=receipt.offset)
        log.info(
            "chat account linked",
            extra={"link_id": linked.link_id, "user_id": linked.user_id, "event_id": event_id},
        )
        return Reply(linked_text(linked.user_id))

    async def _chat(self, origin: Origin, user_id: str, event_id: str, command: ChatText) -> Reply:
        await self._services.chat.submit(
            user_id,
            command.text,
            session_id=session_id(origin.platform, origin.chat_id),
            channel=origin.platform,
            event_id=event_id,
        )
        return Reply(request_id=event_id)
