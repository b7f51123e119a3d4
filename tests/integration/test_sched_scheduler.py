"""The scheduler as `ixo run scheduler` runs it, on real Kafka, Redis and FerretDB, with its
clock injected: a manual clock moves time by minutes while the schedulers tick every 50 ms.

Covered: a scheduled prompt fires once per slot with two scheduler processes running (and the
orchestrator answers each request on the schedule's chat session); after a restart across slot
boundaries the missed slots fire exactly once; a deleted schedule stops firing; a daily alert
digest is composed from the alerts read model; a system task on a seconds cron fires each slot.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from faststream import FastStream

from consumers.orchestrator.app import build_app as build_orchestrator
from consumers.projector import AlertsProjection, ProjectionStore
from consumers.scheduler import (
    REGISTRY,
    Emit,
    ManualClock,
    Registry,
    SchedulerConfig,
    WorkerContext,
    derived_event_id,
    due_event_id,
)
from consumers.scheduler.app import build_app, key_prefix, redis_client
from infra.kafka import Delivery
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from readmodels import READ_MODELS
from schemas import (
    ALERT_MATCHES,
    CHAT_REQUESTS,
    CHAT_RESPONSES,
    TASKS_DUE,
    AlertTriggeredV1,
    ChatMessageReceivedV1,
    CloudEvent,
    Condition,
    ScheduleCreatedV1,
    ScheduleDeletedV1,
    TaskDueV1,
)
from tests._kafka import eventually, publish, read_topic, running
from tests.integration._scheduler import folded

CHAT = "7001"


def clock_at_half_past_a_minute() -> ManualClock:
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    return ManualClock(now)


def scheduler(settings: Settings, clock: ManualClock, registry: Registry = REGISTRY) -> FastStream:
    return build_app(
        settings, SchedulerConfig(tick_s=0.05, lease_s=5.0), registry=registry, clock=clock
    )


def created(clock: ManualClock, schedule_id: str = "sch-1", **fields: Any) -> CloudEvent[Any]:
    data = ScheduleCreatedV1.model_validate(
        {
            "schedule_id": schedule_id,
            "user_id": "alice",
            "task": "prompt",
            "every_s": 60,
            "prompt": "help",
            "channel": "telegram",
            "chat_id": CHAT,
            **fields,
        }
    )
    return CloudEvent.new(data, source="/tests", time=clock())


async def values(settings: Settings, topic: Any) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in await read_topic(settings, topic)]


async def due_slots(settings: Settings, task: str = "sch-1") -> list[str]:
    return [
        e["data"]["slot_id"]
        for e in await values(settings, TASKS_DUE)
        if e["data"]["task_id"] == task
    ]


async def wait_for_count(settings: Settings, count: int, task: str = "sch-1") -> list[str]:
    async def enough() -> list[str] | None:
        found = await due_slots(settings, task)
        assert len(found) <= count, found
        return found if len(found) == count else None

    result = await eventually(enough, timeout=20)
    assert result is not None
    return result


def minute_slots(clock_start: datetime, count: int, first: int = 1) -> list[str]:
    base = clock_start.replace(second=0)
    return [
        f"s:sch-1@{(base + timedelta(minutes=first + i)):%Y-%m-%dT%H:%M:%SZ}" for i in range(count)
    ]


async def test_a_scheduled_prompt_fires_once_per_slot_with_two_schedulers(
    settings: Settings, topics: None
) -> None:
    clock = clock_at_half_past_a_minute()
    start = clock()
    registry = REGISTRY.copy()

    @registry.task("test.every30s", cron="*/30 * * * * *")
    async def every30s(due: TaskDueV1, ctx: WorkerContext) -> Sequence[Emit]:
        text = f"system slot {due.slot_id}"
        request = ChatMessageReceivedV1(
            session_id="system", user_id="ops", channel="cli", text=text
        )
        return (Emit(request, "note"),)

    await publish(settings, created(clock))
    async with (
        running(scheduler(settings, clock, registry)),
        running(scheduler(settings, clock, registry)),
        running(build_orchestrator(settings)),
    ):
        for step in range(1, 4):
            clock.advance(60)
            await wait_for_count(settings, step)
        await asyncio.sleep(0.5)  # ten more ticks of each scheduler: nothing new

        async def answered() -> list[dict[str, Any]]:
            found = [
                e
                for e in await values(settings, CHAT_RESPONSES)
                if e["type"] == "ixo.chat.response.completed.v1" and e["subject"] != "system"
            ]
            return found if len(found) == 3 else []

        answers = await eventually(answered, timeout=30)

    slots = await due_slots(settings)
    assert slots == minute_slots(start, 3)
    due = [e for e in await values(settings, TASKS_DUE) if e["data"]["task_id"] == "sch-1"]
    assert [e["id"] for e in due] == [due_event_id(s) for s in slots]
    requests = [e for e in await values(settings, CHAT_REQUESTS) if e["subject"] != "system"]
    assert [r["id"] for r in requests] == [
        derived_event_id(d["id"], "user_schedules:prompt") for d in due
    ]
    assert {r["data"]["session_id"] for r in requests} == {f"telegram:{CHAT}"}
    assert [r["data"]["text"] for r in requests] == ["help"] * 3
    # The orchestrator answered each on the chat session the Telegram bot delivers from.
    assert sorted(a["data"]["request_id"] for a in answers) == sorted(r["id"] for r in requests)
    assert {a["subject"] for a in answers} == {f"telegram:{CHAT}"}
    # The system task fired every 30 s of the three minutes, once per slot, and its worker ran.
    system = await due_slots(settings, "test.every30s")
    first = start + timedelta(seconds=30)
    assert system == [
        f"t:test.every30s@{first + timedelta(seconds=30 * i):%Y-%m-%dT%H:%M:%SZ}" for i in range(6)
    ]
    notes = [e for e in await values(settings, CHAT_REQUESTS) if e["subject"] == "system"]
    assert [n["data"]["text"] for n in notes] == [f"system slot {s}" for s in system]


async def test_after_a_restart_across_slot_boundaries_missed_slots_fire_once(
    settings: Settings, topics: None
) -> None:
    clock = clock_at_half_past_a_minute()
    start = clock()
    await publish(settings, created(clock))
    async with running(scheduler(settings, clock)):
        clock.advance(60)
        await wait_for_count(settings, 1)
    clock.advance(120)  # down for two slot boundaries
    async with running(scheduler(settings, clock)):
        await wait_for_count(settings, 3)
        await asyncio.sleep(0.5)
        assert await due_slots(settings) == minute_slots(start, 3)

        async def requested() -> list[dict[str, Any]]:
            found = await values(settings, CHAT_REQUESTS)
            return found if len(found) >= 3 else []

        requests = await eventually(requested)
    assert len(requests) == len({r["id"] for r in requests}) == 3
    assert await due_slots(settings) == minute_slots(start, 3)


async def test_a_deleted_schedule_stops_firing(settings: Settings, topics: None) -> None:
    clock = clock_at_half_past_a_minute()
    start = clock()
    await publish(settings, created(clock))
    async with running(scheduler(settings, clock)):
        clock.advance(60)
        await wait_for_count(settings, 1)

        async def requested() -> bool:  # (a slot still pending at deletion would be skipped)
            return len(await values(settings, CHAT_REQUESTS)) == 1

        await eventually(requested)
        deleted = ScheduleDeletedV1(schedule_id="sch-1", user_id="alice")
        await publish(settings, CloudEvent.new(deleted, source="/tests", time=clock()))

        await eventually(lambda: folded(settings))
        clock.advance(180)
        await asyncio.sleep(1.0)  # twenty ticks past three slot boundaries
    assert await due_slots(settings) == minute_slots(start, 1)
    assert len(await values(settings, CHAT_REQUESTS)) == 1


async def test_a_daily_digest_lists_the_users_alerts_of_the_day(
    settings: Settings, topics: None
) -> None:
    # 07:59:30 UTC = 08:59:30 in Paris, a minute before the 09:00 digest.
    clock = ManualClock(datetime(2026, 11, 24, 7, 59, 30, tzinfo=UTC))
    slot = datetime(2026, 11, 24, 8, tzinfo=UTC)
    client = mongo_client(settings)
    try:
        db = await open_database(settings, client, documents=READ_MODELS)
        store = ProjectionStore(db)
        topic = ALERT_MATCHES.full_name(settings.topic_prefix)
        items = [
            Delivery(alert(f"m{i}", slot - ago, price), topic, 0, i, 0)
            for i, (ago, price) in enumerate(
                [
                    (timedelta(hours=30), "69000"),  # before the previous digest
                    (timedelta(hours=5), "70100"),
                    (timedelta(minutes=1), "70500"),
                ]
            )
        ]
        await store.apply(AlertsProjection(), items, topic=topic)
        await publish(
            settings,
            created(
                clock,
                "dig-1",
                task="alert_digest",
                prompt=None,
                every_s=None,
                cron="0 9 * * *",
                timezone="Europe/Paris",
                channel="discord",
                chat_id="555",
            ),
        )
        async with running(scheduler(settings, clock)):
            clock.advance(60)

            async def digested() -> list[dict[str, Any]]:
                return await values(settings, CHAT_RESPONSES)

            [digest] = await eventually(digested)
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()
    assert digest["type"] == "ixo.chat.response.completed.v1"
    assert digest["subject"] == "discord:555"
    assert digest["data"]["text"].splitlines() == [
        "Alert digest, 2026-11-23 09:00 - 2026-11-24 09:00 (Europe/Paris): 2 alerts on BTCUSDT.",
        "2026-11-24 04:00  BTCUSDT at 70100 (above 70000, rule r-1)",
        "2026-11-24 08:59  BTCUSDT at 70500 (above 70000, rule r-1)",
    ]
    [due] = await values(settings, TASKS_DUE)
    assert due["data"]["slot_id"] == "s:dig-1@2026-11-24T08:00:00Z"
    assert digest["data"]["request_id"] == due["id"]


def alert(match_id: str, at: datetime, price: str) -> CloudEvent[Any]:
    data = AlertTriggeredV1(
        match_id=match_id,
        rule_id="r-1",
        user_id="alice",
        symbol="BTCUSDT",
        price=Decimal(price),
        condition=Condition(kind="above", threshold=Decimal(70000)),
        tick_id=f"t-{match_id}",
        triggered_at=at,
    )
    return CloudEvent.new(data, source="/tests", time=at)


async def test_a_scheduler_whose_redis_lost_its_state_refolds_the_schedules(
    settings: Settings, topics: None
) -> None:
    clock = clock_at_half_past_a_minute()
    start = clock()
    await publish(settings, created(clock))
    async with running(scheduler(settings, clock)):
        clock.advance(60)
        await wait_for_count(settings, 1)
    redis = redis_client(settings)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{key_prefix(settings)}*")]
        assert keys
        await redis.delete(*keys)  # the book, its epoch, the progress and the slot claims
    finally:
        await redis.aclose()
    clock.advance(60)
    async with running(scheduler(settings, clock)):
        # The new epoch's group refolds the topic; the schedule fires again. Its first slot is
        # re-published (Redis forgot it was fired) with the same event id, so consumers
        # deduplicate it; the new slot fires once.
        await eventually(lambda: _has(settings, minute_slots(start, 2)[1]), timeout=20)
        await asyncio.sleep(0.3)
    slots = await due_slots(settings)
    assert sorted(set(slots)) == minute_slots(start, 2)
    due = await values(settings, TASKS_DUE)
    assert {e["id"] for e in due} == {due_event_id(s) for s in minute_slots(start, 2)}


async def _has(settings: Settings, slot: str) -> bool:
    return slot in await due_slots(settings)
