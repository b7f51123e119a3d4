"""The contract of the notifier's :class:`consumers.notifier.Parking`, run on every
implementation. Only Redis implements it today (:class:`consumers.notifier.RedisParking`, on the
stack's real Redis); a new implementation is one more ``parking`` parameter. Time is the
parking's injected clock, moved by the test.

A parked job comes back exactly as it was parked once it is due (earliest first, at most
``limit`` at a time), not before; a job handed out is hidden from other takers for a while and
comes back if its taker dies before ``unpark``; parking a key again replaces its job.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from consumers.notifier import Job, Parking, RedisParking
from schemas import AlertTriggeredV1, Channel, CloudEvent, Condition, utc_now
from tests.fakes import ManualClock

HIDE_S = 30.0
T0 = 1_800_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=["redis"])
def parking(request: pytest.FixtureRequest, clock: ManualClock) -> Parking:
    redis, prefix = request.getfixturevalue("redis"), request.getfixturevalue("key_prefix")
    return RedisParking(redis, f"{prefix}notify:", ttl_s=3600, hide_s=HIDE_S, clock=clock)


def job(key: str, **changes: object) -> Job:
    alert = AlertTriggeredV1(
        match_id=f"m-{key}",
        rule_id="r-1",
        user_id="alice",
        symbol="BTCUSDT",
        price=Decimal("70100.5"),
        condition=Condition(kind="above", threshold=Decimal(70000)),
        tick_id="t-1",
        triggered_at=utc_now(),
    )
    made = Job(
        key=key,
        match_id=f"m-{key}",
        user_id="alice",
        channel=Channel(kind="webhook", target="https://example.com/hook?x=1"),
        event=CloudEvent.new(alert, source="/tests"),
        bucket="u:alice",
        rate_per_s=2.5,
        burst=3,
        secret="ixosec_contract_0123456789",
        expires_at=T0 + 600.5,
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


async def test_a_parked_job_comes_back_as_it_was_once_due(
    parking: Parking, clock: ManualClock
) -> None:
    parked = job("k1", reserved=True)
    await parking.park(parked, T0 + 10)
    assert await parking.take_due(10) == []
    clock.now = T0 + 10
    [taken] = await parking.take_due(10)
    assert taken == parked
    assert taken.event.id == parked.event.id


async def test_due_jobs_come_earliest_first_at_most_limit(
    parking: Parking, clock: ManualClock
) -> None:
    for key, due in (("late", 3), ("early", 1), ("middle", 2), ("future", 100)):
        await parking.park(job(key), T0 + due)
    clock.now = T0 + 5
    assert [j.key for j in await parking.take_due(2)] == ["early", "middle"]
    assert [j.key for j in await parking.take_due(2)] == ["late"]
    assert await parking.take_due(2) == []


async def test_a_taken_job_is_hidden_then_back_unless_unparked(
    parking: Parking, clock: ManualClock
) -> None:
    await parking.park(job("k1"), T0)
    await parking.park(job("k2"), T0)
    assert {j.key for j in await parking.take_due(10)} == {"k1", "k2"}
    assert await parking.take_due(10) == []  # hidden from other takers
    await parking.unpark("k1")  # k1's taker finished; k2's died
    clock.now = T0 + HIDE_S + 1
    assert [j.key for j in await parking.take_due(10)] == ["k2"]
    await parking.unpark("k2")
    clock.now = T0 + 10 * HIDE_S
    assert await parking.take_due(10) == []
    await parking.unpark("never-parked")


async def test_parking_a_key_again_replaces_its_job(parking: Parking, clock: ManualClock) -> None:
    await parking.park(job("k1"), T0 + 50)
    again = job("k1", reserved=True)
    await parking.park(again, T0 + 5)
    clock.now = T0 + 5
    assert await parking.take_due(10) == [again]
    clock.now = T0 + 1000
    assert await parking.take_due(10) == [again]  # still one job, hidden and back
