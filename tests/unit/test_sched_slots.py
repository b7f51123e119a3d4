"""Slot computation of the scheduler: cron in a time zone (DST included), fixed periods,
deterministic slot and event ids, the task registry. Pure functions, no services."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

import consumers.scheduler as scheduler
from consumers.scheduler import (
    REGISTRY,
    AlertLine,
    Cadence,
    CadenceError,
    Emit,
    ManualClock,
    Registry,
    WorkerContext,
    derived_event_id,
    digest_text,
    due_event_id,
    slot_id,
    task_key,
    zone,
)
from schemas import TASKS_DUE, AnyEvent, ChatMessageReceivedV1, TaskDueV1


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_public_api_is_what_all_says() -> None:
    assert sorted(scheduler.__all__) == sorted(set(scheduler.__all__))
    for name in scheduler.__all__:
        assert hasattr(scheduler, name), name


def test_cron_runs_on_the_wall_clock_of_its_time_zone() -> None:
    paris = Cadence.parse(cron="0 8 * * *", timezone="Europe/Paris")
    # Winter: 08:00 in Paris is 07:00 UTC; summer: 06:00 UTC.
    assert paris.between(at(2026, 1, 10), at(2026, 1, 12)) == [
        at(2026, 1, 10, 7),
        at(2026, 1, 11, 7),
    ]
    assert paris.next_after(at(2026, 7, 1, 12)) == at(2026, 7, 2, 6)
    assert paris.previous(at(2026, 7, 2, 6)) == at(2026, 7, 1, 6)
    new_york = Cadence.parse(cron="30 9 * * 1-5", timezone="America/New_York")
    # Friday 2026-11-27 then Monday 2026-11-30 (EST, UTC-5): no weekend slots.
    assert new_york.between(at(2026, 11, 27), at(2026, 12, 1)) == [
        at(2026, 11, 27, 14, 30),
        at(2026, 11, 30, 14, 30),
    ]


def test_the_autumn_dst_change_fires_a_fixed_time_once_and_an_hourly_cron_every_hour() -> None:
    daily = Cadence.parse(cron="30 2 * * *", timezone="Europe/Berlin")
    # 2026-10-25: 02:30 happens twice in Berlin (CEST then CET); it fires at the first.
    assert daily.between(at(2026, 10, 24, 12), at(2026, 10, 26, 12)) == [
        at(2026, 10, 25, 0, 30),
        at(2026, 10, 26, 1, 30),
    ]
    hourly = Cadence.parse(cron="0 * * * *", timezone="Europe/Berlin")
    slots = hourly.between(at(2026, 10, 24, 22), at(2026, 10, 25, 3))
    assert slots == [at(2026, 10, 24, 23), *(at(2026, 10, 25, h) for h in range(4))]


def test_the_spring_dst_change_fires_a_missing_time_once_just_after() -> None:
    daily = Cadence.parse(cron="30 2 * * *", timezone="Europe/Berlin")
    # 2026-03-29: 02:00-03:00 does not exist in Berlin; the slot moves to 03:00 CEST.
    assert daily.between(at(2026, 3, 28, 12), at(2026, 3, 30, 12)) == [
        at(2026, 3, 29, 1),
        at(2026, 3, 30, 0, 30),
    ]


def test_fixed_periods_are_anchored_at_the_epoch() -> None:
    hourly = Cadence.parse(every_s=3600)
    assert hourly.between(at(2026, 1, 1, 0, 30), at(2026, 1, 1, 3)) == [
        at(2026, 1, 1, 1),
        at(2026, 1, 1, 2),
        at(2026, 1, 1, 3),
    ]
    assert hourly.between(at(2026, 1, 1, 1), at(2026, 1, 1, 1)) == []
    assert hourly.next_after(at(2026, 1, 1, 1)) == at(2026, 1, 1, 2)
    assert hourly.previous(at(2026, 1, 1, 1)) == at(2026, 1, 1, 0)
    assert hourly.between(at(2026, 1, 1), at(2026, 1, 2), limit=3) == [
        at(2026, 1, 1, 1),
        at(2026, 1, 1, 2),
        at(2026, 1, 1, 3),
    ]


def test_system_tasks_may_use_seconds_users_may_not() -> None:
    fast = Cadence.parse(cron="*/15 * * * * *", allow_seconds=True)
    assert fast.between(at(2026, 1, 1), at(2026, 1, 1, 0, 1)) == [
        at(2026, 1, 1, 0, 0, 15),
        at(2026, 1, 1, 0, 0, 30),
        at(2026, 1, 1, 0, 0, 45),
        at(2026, 1, 1, 0, 1),
    ]
    with pytest.raises(CadenceError, match="has 6 fields") as info:
        Cadence.parse(cron="*/15 * * * * *")
    assert info.value.field == "cron"
    assert Cadence.parse(cron="@daily").next_after(at(2026, 1, 1, 5)) == at(2026, 1, 2)


@pytest.mark.parametrize(
    ("kwargs", "field", "says"),
    [
        ({"cron": "61 8 * * *"}, "cron", "not a valid expression"),
        ({"cron": "0 8 * *"}, "cron", "has 4 fields"),
        ({"cron": "@reboot"}, "cron", "unknown alias"),
        ({"cron": "H 8 * * *"}, "cron", "not a valid expression"),
        ({"cron": "  "}, "cron", "empty"),
        ({"every_s": 30}, "every_s", "between 60"),
        ({"every_s": 90.5}, "every_s", "whole number"),
        ({}, "cron", "exactly one"),
        ({"cron": "0 8 * * *", "every_s": 60}, "every_s", "exactly one"),
        ({"cron": "0 8 * * *", "timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"cron": "0 8 * * *", "timezone": "../etc/passwd"}, "timezone", "unknown time zone"),
        ({"cron": "0 8 * * *", "timezone": ""}, "timezone", "unknown time zone"),
    ],
)
def test_bad_cadences_name_the_field(kwargs: dict[str, object], field: str, says: str) -> None:
    with pytest.raises(CadenceError, match=says) as info:
        Cadence.parse(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_slot_and_event_ids_are_deterministic() -> None:
    key = task_key("schedule", "sch-1")
    assert key == "s:sch-1"
    assert task_key("task", "sch-1") == "t:sch-1"
    sid = slot_id(key, datetime(2026, 11, 24, 9, 0, tzinfo=zone("Europe/Paris")))
    assert sid == "s:sch-1@2026-11-24T08:00:00Z"
    assert due_event_id(sid) == due_event_id("s:sch-1@2026-11-24T08:00:00Z")
    assert due_event_id(sid) != due_event_id("s:sch-1@2026-11-24T08:01:00Z")
    assert derived_event_id(due_event_id(sid), "w:prompt") != due_event_id(sid)
    long = slot_id("s:" + "x" * 199, at(2026, 1, 1))
    assert len(long) <= 200
    assert long == slot_id("s:" + "x" * 199, at(2026, 1, 1))
    TaskDueV1(task_id="x", slot_id=long, slot=at(2026, 1, 1))  # a valid id


def test_the_registry_declares_tasks_and_workers() -> None:
    registry = Registry()

    @registry.task("prices.snapshot", every=timedelta(minutes=5))
    async def snapshot(due: TaskDueV1, ctx: WorkerContext) -> Sequence[Emit]:
        return ()

    @registry.task("reports.daily", cron="0 8 * * *", timezone="Europe/Paris")
    async def daily(due: TaskDueV1, ctx: WorkerContext) -> Sequence[Emit]:
        return ()

    @registry.on_event("ixo.alert.triggered.v1")
    async def on_alert(event: AnyEvent, ctx: WorkerContext) -> Sequence[Emit]:
        return ()

    assert set(registry.tasks) == {"prices.snapshot", "reports.daily"}
    assert registry.tasks["prices.snapshot"].cadence == Cadence(every_s=300)
    assert registry.tasks["reports.daily"].key == "t:reports.daily"
    assert [t.name for t in registry.topics()] == [TASKS_DUE.name, "ixo.alerts.matches"]
    assert [w.name for w in registry.workers_for("ixo.alert.triggered.v1")] == ["on_alert"]
    with pytest.raises(ValueError, match="registered twice"):
        registry.task("prices.snapshot", every=60)(snapshot)
    with pytest.raises(ValueError, match="exactly one"):
        registry.task("both", every=60, cron="* * * * *")
    with pytest.raises(ValueError, match="whole number"):
        registry.task("too.fast", every=timedelta(milliseconds=10))
    with pytest.raises(ValueError, match="between 1"):
        registry.task("never", every=0)
    with pytest.raises(ValueError, match="unknown event type"):
        registry.on_event("ixo.nothing.v1")
    with pytest.raises(ValueError, match="task name"):
        registry.task("has spaces", every=60)
    # The default registry runs users' schedules; a copy extends it without changing it.
    assert [w.name for w in REGISTRY.workers] == ["user_schedules"]
    extended = REGISTRY.copy()
    extended.task("extra", every=60)(snapshot)
    assert "extra" not in REGISTRY.tasks
    assert [w.name for w in extended.workers] == ["user_schedules", "system_tasks"]


async def test_system_tasks_run_by_name_from_their_due_event() -> None:
    from schemas import CloudEvent

    registry = Registry()
    ran: list[str] = []

    @registry.task("hello", every=60)
    async def hello(due: TaskDueV1, ctx: WorkerContext) -> Sequence[Emit]:
        ran.append(due.slot_id)
        text = f"slot {due.slot_id}"
        return (
            Emit(
                ChatMessageReceivedV1(session_id="s", user_id="u", channel="cli", text=text), "hi"
            ),
        )

    [worker] = registry.workers_for(TaskDueV1.event_type)
    ctx = WorkerContext(schedules=None, alerts=None, clock=ManualClock())  # type: ignore[arg-type]
    due = CloudEvent.new(
        TaskDueV1(task_id="hello", slot_id="t:hello@x", slot=at(2026, 1, 1)), source="/t"
    )
    emitted = await worker.fn(due, ctx)
    assert ran == ["t:hello@x"]
    assert [e.what for e in emitted] == ["hi"]
    other = CloudEvent.new(
        TaskDueV1(task_id="nope", slot_id="t:nope@x", slot=at(2026, 1, 1)), source="/t"
    )
    assert await worker.fn(other, ctx) == ()


def test_the_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(at(2026, 1, 1))
    assert clock() == at(2026, 1, 1)
    clock.advance(90)
    clock.advance(timedelta(minutes=1))
    assert clock() == at(2026, 1, 1, 0, 2, 30)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_the_digest_lists_alerts_in_the_users_time_zone() -> None:
    tz = zone("Europe/Paris")
    lines = [
        AlertLine(
            "r-1", "BTCUSDT", "70100", {"kind": "above", "threshold": "70000"}, at(2026, 1, 1, 6)
        ),
        AlertLine(
            "r-2", "ETHUSDT", "3000", {"kind": "pct_change", "threshold": "-5"}, at(2026, 1, 1, 7)
        ),
    ]
    text = digest_text(lines, start=at(2025, 12, 31, 7), end=at(2026, 1, 1, 7), tz=tz)
    assert text.splitlines() == [
        "Alert digest, 2025-12-31 08:00 - 2026-01-01 08:00 (Europe/Paris): "
        "2 alerts on BTCUSDT, ETHUSDT.",
        "2026-01-01 07:00  BTCUSDT at 70100 (above 70000, rule r-1)",
        "2026-01-01 08:00  ETHUSDT at 3000 (moved -5%, rule r-2)",
    ]
    empty = digest_text([], start=at(2025, 12, 31, 7), end=at(2026, 1, 1, 7), tz=tz)
    assert empty.endswith("no alerts triggered.")
    many = [lines[0]] * 25
    text = digest_text(many, start=at(2025, 12, 31, 7), end=at(2026, 1, 1, 7), tz=tz)
    assert "(the latest 20 of 25)" in text
    assert len(text.splitlines()) == 22
