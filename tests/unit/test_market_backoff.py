"""Reconnect backoff: exponential, capped, jittered within bounds."""

from __future__ import annotations

import random

import pytest

from producers.market import Backoff


def test_without_jitter_the_delay_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0, factor=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_stays_between_the_floor_and_the_ceiling() -> None:
    backoff = Backoff(initial_s=1.0, max_s=30.0, jitter=0.5)
    rng = random.Random(1)
    for attempt in range(12):
        ceiling = backoff.ceiling(attempt)
        delays = [backoff.delay(attempt, rng.random) for _ in range(200)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # actually random: clients do not reconnect in lockstep
    assert backoff.delay(3, lambda: 0.0) == 8.0
    assert backoff.delay(3, lambda: 1.0) == 4.0


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert Backoff(jitter=0.0).delay(10_000) == 30.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_s": 0},
        {"initial_s": 5, "max_s": 1},
        {"factor": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each message is specific
        Backoff(**kwargs)
