"""The scheduler core's decisions, on the in-memory ledger, book and sink of :mod:`tests.fakes`
(the Redis and Kafka adapters are exercised by tests/integration/test_sched_*.py): which slots
fire, once, in order; catch-up after a gap; the catch-up bound; a slot another process holds;
a failed publish; and the worker that turns a user schedule's slot into a chat request or an
alert digest."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.scheduler import (
    REGISTRY,
    AlertLine,
    Dispatcher,
    ManualClock,
    Registry,
    Scheduler,
    SchedulerConfig,
    ScheduleSpec,
    WorkerContext,
    derived_event_id,
    due_event_id,
)
from schemas import (
    AnyEvent,
    ChatMessageReceivedV1,
    ChatResponseCompletedV1,
    CloudEvent,
    ScheduleCreatedV1,
    TaskDueV1,
)
from tests.fakes import MemoryBook, MemoryLedger, MemorySink

T0 = datetime(2026, 11, 24, 7, 59, 30, tzinfo=UTC)


def spec(schedule_id: str = "sch-1", created: datetime = T0, **fields: Any) -> ScheduleSpec:
    data = {
        "schedule_id": schedule_id,
        "user_id": "alice",
        "task": "prompt",
        "every_s": 60,
        "prompt": "summarise BTC",
        "channel": "telegram",
        "chat_id": "7001",
        **fields,
    }
    return ScheduleSpec(ScheduleCreatedV1.model_validate(data), created)


def minute(m: int) -> str:
    return f"s:sch-1@2026-11-24T{8 + m // 60:02d}:{m % 60:02d}:00Z"


async def test_each_slot_fires_once_across_schedulers_sharing_the_ledger() -> None:
    ledger, book, sink = MemoryLedger(), MemoryBook(spec()), MemorySink()
    a = Scheduler(ledger, book, sink)
    b = Scheduler(ledger, book, sink)
    now = T0
    for _ in range(7):  # 3.5 minutes in 30 s steps, both schedulers ticking every step
        now += timedelta(seconds=30)
        await asyncio.gather(a.tick(now), b.tick(now))
    assert sink.slots() == [minute(0), minute(1), minute(2), minute(3)]
    assert [e.id for e in sink.events] == [due_event_id(s) for s in sink.slots()]
    first = sink.events[0]
    assert first.subject == "sch-1"
    assert first.data == TaskDueV1(
        task_id="sch-1",
        slot_id=minute(0),
        slot=datetime(2026, 11, 24, 8, tzinfo=UTC),
        schedule_id="sch-1",
        user_id="alice",
    )


async def test_missed_slots_fire_once_after_a_gap_oldest_first() -> None:
    ledger, book, sink = MemoryLedger(), MemoryBook(spec()), MemorySink()
    await Scheduler(ledger, book, sink).tick(T0 + timedelta(seconds=45))
    assert sink.slots() == [minute(0)]
    # "Restart" (a new scheduler, same ledger) three and a half minutes later.
    await Scheduler(ledger, book, sink).tick(T0 + timedelta(minutes=4))
    assert sink.slots() == [minute(m) for m in range(4)]
    await Scheduler(ledger, book, sink).tick(T0 + timedelta(minutes=4))
    assert sink.slots() == [minute(m) for m in range(4)]


async def test_catch_up_is_bounded() -> None:
    ledger, book, sink = MemoryLedger(), MemoryBook(spec()), MemorySink()
    config = SchedulerConfig(catch_up=timedelta(minutes=2), max_slots_per_tick=1000)
    await Scheduler(ledger, book, sink, config=config).tick(T0 + timedelta(minutes=10, seconds=1))
    # At 08:09:31, only the slots of the last two minutes: 08:08 and 08:09.
    assert sink.slots() == [minute(8), minute(9)]


async def test_a_slot_held_by_another_process_stops_catch_up_until_it_is_done() -> None:
    ledger, book, sink = MemoryLedger(), MemoryBook(spec()), MemorySink()
    ledger.slots[minute(1)] = "someone-else"
    scheduler = Scheduler(ledger, book, sink)
    await scheduler.tick(T0 + timedelta(minutes=3))
    assert sink.slots() == [minute(0)]
    assert ledger.throughs["s:sch-1"] == datetime(2026, 11, 24, 8, tzinfo=UTC)
    ledger.slots[minute(1)] = "done"  # the other process fired it
    await scheduler.tick(T0 + timedelta(minutes=3))
    assert sink.slots() == [minute(0), minute(2)]


async def test_a_failed_publish_releases_the_slot_and_fires_it_on_a_later_tick() -> None:
    ledger, book, sink = MemoryLedger(), MemoryBook(spec()), MemorySink()
    scheduler = Scheduler(ledger, book, sink)
    sink.fail = True
    assert await scheduler.tick(T0 + timedelta(minutes=1)) == []
    assert ledger.slots == {}
    sink.fail = False
    assert await scheduler.tick(T0 + timedelta(minutes=1)) == [minute(0)]


async def test_new_schedules_start_at_creation_and_system_tasks_at_first_sight() -> None:
    registry = Registry()

    @registry.task("tick", every=60)
    async def tick(due: TaskDueV1, ctx: WorkerContext) -> Sequence[Any]:
        return ()

    created = T0 + timedelta(minutes=2)
    ledger, sink = MemoryLedger(), MemorySink()
    book = MemoryBook(spec("late", created=created))
    scheduler = Scheduler(ledger, book, sink, tasks=registry.tasks)
    await scheduler.tick(T0 + timedelta(minutes=4))  # first sight of "tick" is now
    assert sink.slots() == ["s:late@2026-11-24T08:02:00Z", "s:late@2026-11-24T08:03:00Z"]
    await scheduler.tick(T0 + timedelta(minutes=5))
    assert sink.slots()[2:] == ["t:tick@2026-11-24T08:04:00Z", "s:late@2026-11-24T08:04:00Z"]


async def test_deleted_and_invalid_schedules_do_not_fire() -> None:
    ledger, sink = MemoryLedger(), MemorySink()
    bad = spec("bad", cron="0 8 * * *", every_s=None, timezone="Mars/Olympus")
    book = MemoryBook(spec(), bad)
    scheduler = Scheduler(ledger, book, sink)
    await scheduler.tick(T0 + timedelta(minutes=1))
    assert sink.slots() == [minute(0)]
    del book.specs["sch-1"]
    await scheduler.tick(T0 + timedelta(minutes=5))
    assert sink.slots() == [minute(0)]


class MemoryHandled:
    def __init__(self) -> None:
        self.keys: set[str] = set()

    async def seen(self, key: str) -> bool:
        return key in self.keys

    async def mark(self, key: str) -> None:
        self.keys.add(key)


class MemoryAlerts:
    def __init__(self, *lines: AlertLine) -> None:
        self.lines = list(lines)
        self.asked: list[tuple[datetime, datetime]] = []

    async def between(
        self, user_id: str, start: datetime, end: datetime, limit: int
    ) -> list[AlertLine]:
        self.asked.append((start, end))
        return [a for a in self.lines if start < a.triggered_at <= end][-limit:]


class Delivered:
    def __init__(self, event: AnyEvent) -> None:
        self.event = event


def due(schedule_id: str, slot: datetime) -> AnyEvent:
    sid = f"s:{schedule_id}@{slot:%Y-%m-%dT%H:%M:%SZ}"
    data = TaskDueV1(task_id=schedule_id, slot_id=sid, slot=slot, schedule_id=schedule_id)
    return CloudEvent.new(data, source="/t", event_id=due_event_id(sid))


async def test_a_prompt_slot_becomes_one_chat_request_on_the_schedules_chat() -> None:
    book, sink, handled = MemoryBook(spec()), MemorySink(), MemoryHandled()
    ctx = WorkerContext(schedules=book, alerts=MemoryAlerts(), clock=ManualClock(T0))
    dispatcher = Dispatcher(REGISTRY, ctx, sink, handled, source="/t")
    cause = due("sch-1", datetime(2026, 11, 24, 8, tzinfo=UTC))
    await dispatcher.handle([Delivered(cause)])
    await dispatcher.handle([Delivered(cause)])  # redelivered: nothing new
    [request] = sink.events
    assert request.data == ChatMessageReceivedV1(
        session_id="telegram:7001", user_id="alice", channel="telegram", text="summarise BTC"
    )
    assert request.id == derived_event_id(cause.id, "user_schedules:prompt")
    assert request.causationid == cause.id
    del book.specs["sch-1"]  # a deleted schedule's pending slot is skipped
    await dispatcher.handle([Delivered(due("sch-1", datetime(2026, 11, 24, 8, 1, tzinfo=UTC)))])
    assert len(sink.events) == 1


async def test_a_digest_slot_lists_the_alerts_since_the_previous_slot() -> None:
    daily = spec(
        "dig",
        task="alert_digest",
        prompt=None,
        every_s=None,
        cron="0 8 * * *",
        timezone="Europe/Paris",
        channel="discord",
        chat_id="555",
    )
    slot = datetime(2026, 11, 24, 7, tzinfo=UTC)  # 08:00 in Paris
    alerts = MemoryAlerts(
        AlertLine("r-1", "BTCUSDT", "70100", {"kind": "above", "threshold": "70000"}, slot),
        AlertLine("r-1", "BTCUSDT", "1", {"kind": "above", "threshold": "1"}, slot - timedelta(2)),
    )
    sink = MemorySink()
    ctx = WorkerContext(schedules=MemoryBook(daily), alerts=alerts, clock=ManualClock(T0))
    dispatcher = Dispatcher(REGISTRY, ctx, sink, MemoryHandled(), source="/t")
    cause = due("dig", slot)
    await dispatcher.handle([Delivered(cause)])
    [digest] = sink.events
    assert alerts.asked == [(slot - timedelta(days=1), slot)]
    assert isinstance(digest.data, ChatResponseCompletedV1)
    assert digest.data.session_id == "discord:555"
    assert digest.data.request_id == cause.id
    assert digest.data.text.splitlines() == [
        "Alert digest, 2026-11-23 08:00 - 2026-11-24 08:00 (Europe/Paris): 1 alert on BTCUSDT.",
        "2026-11-24 08:00  BTCUSDT at 70100 (above 70000, rule r-1)",
    ]


async def test_a_failing_worker_fails_the_batch_and_is_retried_whole() -> None:
    registry = Registry()
    calls: list[str] = []

    @registry.on_event(TaskDueV1.event_type)
    async def flaky(event: AnyEvent, ctx: WorkerContext) -> Sequence[Any]:
        calls.append(event.id)
        if len(calls) == 1:
            msg = "boom"
            raise RuntimeError(msg)
        return ()

    handled = MemoryHandled()
    ctx = WorkerContext(schedules=MemoryBook(), alerts=MemoryAlerts(), clock=ManualClock(T0))
    dispatcher = Dispatcher(registry, ctx, MemorySink(), handled, source="/t")
    cause = due("x", T0)
    with pytest.raises(RuntimeError, match="boom"):
        await dispatcher.handle([Delivered(cause)])
    await dispatcher.handle([Delivered(cause)])
    await dispatcher.handle([Delivered(cause)])
    assert calls == [cause.id, cause.id]
    assert handled.keys == {f"flaky:{cause.id}"}
