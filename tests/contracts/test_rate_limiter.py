"""The contract of the notifier's :class:`consumers.notifier.RateLimiter`, run on every
implementation: :class:`consumers.notifier.RedisRateLimiter` on the stack's real Redis and the
in-memory one of the fakes. Time is the limiter's injected clock, moved by the test.

A bucket hands out ``burst`` slots at once, then one every ``1/rate`` seconds, in arrival order
(a caller over the limit is told how long to wait for its reserved slot: delayed, never
refused); unused time refills the bucket up to ``burst``; buckets are independent.
"""

from __future__ import annotations

import pytest

from consumers.notifier import RateLimiter, RedisRateLimiter
from tests.fakes import ManualClock, MemoryRateLimiter

T0 = 1_800_000_000.0
RATE = 2.5  # one slot every 0.4 s
BURST = 3


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest, clock: ManualClock) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter(clock=clock)
    redis, prefix = request.getfixturevalue("redis"), request.getfixturevalue("key_prefix")
    return RedisRateLimiter(redis, f"{prefix}notify:", clock=clock)


async def reserve(limiter: RateLimiter, n: int, bucket: str = "u:alice") -> list[float]:
    return [await limiter.reserve(bucket, RATE, BURST) for _ in range(n)]


async def test_a_burst_at_once_then_one_slot_per_interval(limiter: RateLimiter) -> None:
    assert await reserve(limiter, 6) == [0, 0, 0, 0.4, 0.8, 1.2]


async def test_buckets_are_independent(limiter: RateLimiter) -> None:
    await reserve(limiter, 5)
    assert await reserve(limiter, 2, bucket="u:bob") == [0, 0]
    assert await reserve(limiter, 1) == [1.2]  # alice's sixth, unaffected by bob


async def test_waiting_takes_the_reserved_slot_and_time_refills(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    assert await reserve(limiter, 4) == [0, 0, 0, 0.4]
    clock.now = T0 + 0.4  # the fourth caller's slot has come; the next one is 0.4 s later
    assert await reserve(limiter, 1) == [0.4]
    clock.now = T0 + 10  # long idle: a full burst again, never more
    assert await reserve(limiter, 4) == [0, 0, 0, 0.4]


async def test_a_rate_over_one_per_millisecond_still_spaces_slots(limiter: RateLimiter) -> None:
    waits = [await limiter.reserve("u:fast", 5000, 1) for _ in range(3)]
    assert waits == [0, 0.001, 0.002]
