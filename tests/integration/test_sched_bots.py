"""Schedules from a chat, end to end: the real aiogram client long-polls the stand-in Telegram
Bot API; `/schedule every 1m ...` becomes a schedule event whose ids derive from the update, the
scheduler (manual clock) fires it, the orchestrator answers, and the bot delivers the answer
to the chat; `/schedules` lists it and `/unschedule` stops it. Real Kafka, Redis, FerretDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from bots import delivery_event_id
from consumers.orchestrator.app import build_app as build_orchestrator
from consumers.projector.app import build_app as build_projector
from consumers.scheduler import Cadence, ManualClock, SchedulerConfig
from consumers.scheduler.app import build_app as build_scheduler
from infra.kafka import EventPublisher
from infra.settings import Settings
from infra.stack.standins import TelegramStandin
from schemas import SCHEDULES, TASKS_DUE
from services import IdentityService, schedule_id_for
from tests._kafka import events_on, eventually, running
from tests.integration._linking import identity_service
from tests.integration._scheduler import folded
from tests.integration._telegram import CHAT, link_chat, reply_to, running_bot

OFFLINE_ANSWER = "No language model is configured"


@pytest.fixture
async def identity(
    settings: Settings, publisher: EventPublisher, redis: Redis
) -> AsyncIterator[IdentityService]:
    async with identity_service(settings, publisher, redis) as found:
        yield found


async def test_a_chat_schedules_a_prompt_sees_the_answers_and_unschedules_it(
    bot_settings: Settings, telegram: TelegramStandin, identity: IdentityService
) -> None:
    tg, settings = telegram, bot_settings
    clock = ManualClock()
    async with running(build_projector(settings, ["schedules"])), running_bot(settings):
        await link_chat(tg, identity, "alice")
        # Bad schedules get the reason and the usage, and publish nothing.
        _, answer = await reply_to(tg, "/schedule 0 8 * * * tz=Mars/Olympus hello")
        assert answer.startswith("timezone: unknown time zone 'Mars/Olympus'")
        assert "Usage: /schedule" in answer
        _, answer = await reply_to(tg, "/schedule every 30s hello")
        assert "at most once a minute" in answer
        assert await events_on(settings, SCHEDULES) == []

        update_id, answer = await reply_to(tg, "/schedule every 1m help")
        event_id = delivery_event_id("telegram", f"{tg.bot_id}:{update_id}")
        schedule_id = schedule_id_for(event_id)
        assert answer.startswith(f"Schedule {schedule_id} set: every 60s, ask the agent: help.")
        [created] = await events_on(settings, SCHEDULES)
        assert created["id"] == event_id
        assert created["data"] == {
            "schedule_id": schedule_id,
            "user_id": "alice",
            "task": "prompt",
            "cron": None,
            "every_s": 60,
            "timezone": "UTC",
            "prompt": "help",
            "channel": "telegram",
            "chat_id": str(CHAT),
        }

        async def listed() -> str | None:
            _, text = await reply_to(tg, "/schedules")
            return text if schedule_id in text else None

        listing = await eventually(listed, timeout=20, interval=0.3)
        assert listing is not None
        assert f"{schedule_id}  every 60s  ask the agent: help" in listing

        # Two minutes pass on the scheduler's clock: each slot's answer reaches the chat.
        async with (
            running(build_scheduler(settings, SchedulerConfig(tick_s=0.05), clock=clock)),
            running(build_orchestrator(settings)),
        ):
            clock.advance(120)
            since = datetime.fromisoformat(created["time"])
            slots = Cadence.parse(every_s=60).between(since, clock())
            assert len(slots) in (1, 2)

            async def answered() -> bool:
                return sum(OFFLINE_ANSWER in t for t in tg.texts(CHAT)) == len(slots)

            await eventually(answered, timeout=30)

            # /unschedule stops it: no slot fires after the scheduler has seen the deletion.
            _, answer = await reply_to(tg, f"/unschedule {schedule_id}")
            assert answer == f"Schedule {schedule_id} deleted."
            deleted = (await events_on(settings, SCHEDULES))[-1]
            assert deleted["type"] == "ixo.schedule.deleted.v1"

            await eventually(lambda: folded(settings))
            clock.advance(timedelta(minutes=5))
            await asyncio.sleep(0.5)

            async def gone() -> str | None:
                _, text = await reply_to(tg, "/schedules")
                return text if schedule_id not in text else None

            empty = await eventually(gone, timeout=20, interval=0.3)
            assert empty is not None
            assert "You have no schedules" in empty
        due = await events_on(settings, TASKS_DUE)
        assert [e["data"]["slot_id"] for e in due] == [
            f"s:{schedule_id}@{s.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" for s in slots
        ]
        assert sum(OFFLINE_ANSWER in t for t in tg.texts(CHAT)) == len(slots)
        _, answer = await reply_to(tg, f"/unschedule {schedule_id}")
        assert answer == f"You have no schedule {schedule_id}. /schedules lists yours."
