"""The gateway's rate limiter (GCRA, on an injected clock) and its bounded error bodies."""

from __future__ import annotations

import pytest

from producers.gateway._errors import MAX_ERRORS, MAX_LOC_PART, MAX_MESSAGE, bounded, error_items
from producers.gateway._limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_the_next_waits_one_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2, burst=4, clock=clock)
    assert [limiter.acquire("alice") for _ in range(4)] == [0.0] * 4
    assert limiter.acquire("alice") == pytest.approx(0.5)
    # A refusal takes nothing: asking again at once gives the same wait.
    assert limiter.acquire("alice") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("alice") == 0.0
    assert limiter.acquire("alice") == pytest.approx(0.5)


def test_the_sustained_rate_is_the_configured_one() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=8, burst=1, clock=clock)
    allowed = 0
    for _ in range(1024):  # 16 s in steps of 1/64 s (exact in binary floating point)
        if limiter.acquire("k") == 0.0:
            allowed += 1
        clock.now += 1 / 64
    assert allowed == 8 * 16


def test_keys_are_independent() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=1, burst=1, clock=clock)
    assert limiter.acquire("alice") == 0.0
    assert limiter.acquire("alice") == pytest.approx(1.0)
    assert limiter.acquire("bob") == 0.0


def test_idle_credit_refills_only_up_to_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=1, burst=3, clock=clock)
    assert limiter.acquire("k") == 0.0
    clock.now += 3600  # an hour idle earns 3 requests, not 3600
    assert [limiter.acquire("k") == 0.0 for _ in range(4)] == [True, True, True, False]


def test_the_table_of_keys_stays_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=1, burst=2, clock=clock, max_keys=100)
    for n in range(1000):
        assert limiter.acquire(f"addr:{n}") == 0.0
        clock.now += 0.01  # most keys are still mid-burst when the table fills
    assert len(limiter) <= 100
    # A key that is mid-burst keeps its state while the table has room for others.
    assert limiter.acquire("addr:999") == 0.0
    assert limiter.acquire("addr:999") > 0


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        RateLimiter(rate_per_s=rate, burst=burst)


def test_bounded_keeps_both_ends_of_a_long_text() -> None:
    text = "unknown event type '" + "x" * 100_000 + "' (known: a, b, c)"
    out = bounded(text)
    assert len(out) <= MAX_MESSAGE + 3
    assert out.startswith("unknown event type 'xxx")
    assert out.endswith("(known: a, b, c)")
    assert bounded("short") == "short"


def test_error_items_drop_the_input_and_bound_everything_else() -> None:
    huge = "y" * 900_000
    errors = [
        {
            "loc": ("body", huge, *range(40)),
            "msg": f"Value error, {huge}",
            "type": "value_error",
            "input": huge,
            "ctx": {"error": huge},
        }
    ] * 50
    items = error_items(errors)
    assert len(items) == MAX_ERRORS
    first = items[0]
    assert set(first) == {"loc", "msg", "type"}
    assert first["loc"][0] == "body"
    assert len(first["loc"][1]) <= MAX_LOC_PART + 3
    assert len(first["loc"]) == 17  # 16 kept, then an ellipsis
    assert len(first["msg"]) <= MAX_MESSAGE + 3
    assert len(repr(items)) < 20_000
