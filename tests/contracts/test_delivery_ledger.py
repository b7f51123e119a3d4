"""The contract of the notifier's delivery :class:`consumers.notifier.Ledger`, run on every
implementation. Only Redis implements it today (:class:`consumers.notifier.RedisLedger`, on the
stack's real Redis); a new implementation is one more ``ledgers`` parameter. Time is the
ledger's injected clock, moved by the test: lease expiry needs no sleep.

A key is owned by one worker at a time, under a lease; attempts are counted across owners; the
outcome is recorded by its owner before it is published and reported to every later claim;
``finish`` closes a decided key for good; ``release`` lets the next worker in at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.notifier import Ledger, Outcome, RedisLedger
from tests.fakes import ManualClock

LEASE_S = 5.0
DELIVERED = Outcome("delivered", 2, datetime(2026, 11, 24, 8, 0, 1, 250000, tzinfo=UTC))
FAILED = Outcome(
    "failed", 1, datetime(2026, 11, 24, 8, 0, 2, tzinfo=UTC), "Forbidden: bot was blocked"
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["redis"])
def ledger(request: pytest.FixtureRequest, clock: ManualClock) -> Ledger:
    redis, prefix = request.getfixturevalue("redis"), request.getfixturevalue("key_prefix")
    return RedisLedger(redis, f"{prefix}notify:", lease_s=LEASE_S, ttl_s=3600, clock=clock)


async def test_a_new_key_is_claimed_and_begin_counts_the_first_attempt(ledger: Ledger) -> None:
    plain = await ledger.claim("k1", "a")
    assert (plain.status, plain.attempts, plain.outcome) == ("claimed", 0, None)
    begun = await ledger.claim("k2", "a", begin=True)
    assert (begun.status, begun.attempts) == ("claimed", 1)


async def test_another_worker_waits_while_the_lease_holds(
    ledger: Ledger, clock: ManualClock
) -> None:
    assert (await ledger.claim("k", "a", begin=True)).status == "claimed"
    clock.advance(1)
    busy = await ledger.claim("k", "b", begin=True)
    assert busy.status == "busy"
    assert busy.wait_s == pytest.approx(LEASE_S - 1)
    again = await ledger.claim("k", "a")  # its owner may claim again
    assert (again.status, again.attempts) == ("claimed", 1)
    assert not await ledger.settle("k", "b", DELIVERED)  # only the owner settles
    assert await ledger.begin_attempt("k", "b") is None
    assert not await ledger.renew("k", "b")


async def test_attempts_survive_a_takeover_after_the_lease(
    ledger: Ledger, clock: ManualClock
) -> None:
    """A worker that died holding a key leaves it, with its attempt count, to the next."""
    assert (await ledger.claim("k", "a", begin=True)).attempts == 1
    assert await ledger.begin_attempt("k", "a") == 2
    clock.advance(LEASE_S + 0.001)
    taken = await ledger.claim("k", "b", begin=True)
    assert (taken.status, taken.attempts) == ("claimed", 3)
    assert not await ledger.renew("k", "a")  # the old owner learns it lost the key
    assert await ledger.begin_attempt("k", "a") is None
    assert not await ledger.settle("k", "a", DELIVERED)
    assert await ledger.renew("k", "b")


async def test_renew_and_begin_attempt_extend_the_lease(ledger: Ledger, clock: ManualClock) -> None:
    assert (await ledger.claim("k", "a")).status == "claimed"
    clock.advance(LEASE_S * 0.8)
    assert await ledger.renew("k", "a")
    clock.advance(LEASE_S * 0.8)
    assert (await ledger.claim("k", "b")).status == "busy"
    assert await ledger.begin_attempt("k", "a") == 1
    clock.advance(LEASE_S * 0.8)
    assert (await ledger.claim("k", "b")).status == "busy"
    clock.advance(LEASE_S * 0.3)
    assert (await ledger.claim("k", "b")).status == "claimed"


@pytest.mark.parametrize(("outcome", "status"), [(DELIVERED, "sent"), (FAILED, "failed")])
async def test_a_settled_outcome_is_told_to_every_later_claim(
    ledger: Ledger, clock: ManualClock, outcome: Outcome, status: str
) -> None:
    """Decided before it is published: a worker that crashes in between never sends again,
    and whoever claims the key next publishes the same outcome."""
    assert (await ledger.claim("k", "a", begin=True)).status == "claimed"
    assert await ledger.settle("k", "a", outcome)
    mine = await ledger.claim("k", "a", begin=True)
    assert (mine.status, mine.outcome) == (status, outcome)
    assert mine.attempts == outcome.attempts
    assert (await ledger.claim("k", "b")).status == "busy"  # the owner is still publishing
    clock.advance(LEASE_S + 0.001)
    theirs = await ledger.claim("k", "b", begin=True)
    assert (theirs.status, theirs.outcome) == (status, outcome)


async def test_finish_closes_a_decided_key_for_good(ledger: Ledger, clock: ManualClock) -> None:
    assert (await ledger.claim("k", "a", begin=True)).status == "claimed"
    await ledger.finish("k")  # not decided yet: nothing to finish
    assert (await ledger.claim("k", "a")).status == "claimed"
    assert await ledger.settle("k", "a", DELIVERED)
    await ledger.finish("k")
    assert (await ledger.claim("k", "a")).status == "done"
    clock.advance(LEASE_S + 0.001)
    assert (await ledger.claim("k", "b", begin=True)).status == "done"
    assert not await ledger.settle("k", "b", FAILED)
    assert (await ledger.claim("k", "c")).status == "done"


async def test_release_lets_the_next_worker_in_at_once(ledger: Ledger) -> None:
    assert (await ledger.claim("k", "a", begin=True)).attempts == 1
    await ledger.release("k", "b")  # not the owner: nothing changes
    assert (await ledger.claim("k", "b")).status == "busy"
    await ledger.release("k", "a")
    taken = await ledger.claim("k", "b", begin=True)
    assert (taken.status, taken.attempts) == ("claimed", 2)


async def test_release_can_undo_an_attempt_that_was_never_sent(ledger: Ledger) -> None:
    """A job parked before its send gives back the attempt it had begun."""
    assert (await ledger.claim("k", "a", begin=True)).attempts == 1
    await ledger.release("k", "a", undo_attempt=True)
    taken = await ledger.claim("k", "b", begin=True)
    assert (taken.status, taken.attempts) == ("claimed", 1)
