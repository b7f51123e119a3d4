"""The contract of the scheduler's :class:`consumers.scheduler.SlotLedger`, run on every
implementation: in memory (:mod:`tests.fakes`) and Redis (the stack's real one).

``through`` is a task's progress: set once by ``start``, then only moved forward by ``advance``.
A slot is claimed by one token at a time until its holder releases it, marks it done (for good)
or its lease runs out (a crashed process's slot is fired by another one later).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from consumers.scheduler import RedisLedger, SlotLedger
from tests._kafka import eventually
from tests.fakes import MemoryLedger

LEASE_S = 0.3
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
LedgerMaker = Callable[..., SlotLedger]


@pytest.fixture(params=["memory", "redis"])
def ledgers(request: pytest.FixtureRequest) -> LedgerMaker:
    """Makes a ledger of the parameter's kind; ``lease_s``: how long a claim holds."""
    if request.param == "redis":
        redis, prefix = request.getfixturevalue("redis"), request.getfixturevalue("key_prefix")

        def on_redis(lease_s: float = 60.0) -> SlotLedger:
            return RedisLedger(redis, f"{prefix}sched:", lease_s=lease_s, done_ttl_s=3600)

        return on_redis
    return lambda lease_s=60.0: MemoryLedger(lease_s=lease_s)


async def test_a_task_starts_once_and_only_moves_forward(ledgers: LedgerMaker) -> None:
    ledger = ledgers()
    assert await ledger.through("s:sch-1") is None
    assert await ledger.start("s:sch-1", T0) == T0
    assert await ledger.start("s:sch-1", T0 + timedelta(hours=1)) == T0  # set already
    assert await ledger.through("s:sch-1") == T0
    await ledger.advance("s:sch-1", T0 + timedelta(minutes=2))
    assert await ledger.through("s:sch-1") == T0 + timedelta(minutes=2)
    await ledger.advance("s:sch-1", T0 + timedelta(minutes=1))  # never backwards
    assert await ledger.through("s:sch-1") == T0 + timedelta(minutes=2)
    assert await ledger.through("t:other") is None  # tasks are independent


async def test_advance_sets_the_progress_of_a_task_never_started(ledgers: LedgerMaker) -> None:
    ledger = ledgers()
    await ledger.advance("t:digest", T0)
    assert await ledger.through("t:digest") == T0
    assert await ledger.start("t:digest", T0 - timedelta(days=1)) == T0


async def test_one_claim_per_slot_until_released_by_its_holder(ledgers: LedgerMaker) -> None:
    ledger = ledgers()
    slot = "s:sch-1@2026-11-24T08:01:00Z"
    assert await ledger.claim(slot, "a") == "claimed"
    assert await ledger.claim(slot, "b") == "busy"
    assert await ledger.claim(slot, "a") == "busy"  # a claim is not re-entrant
    await ledger.release(slot, "b")  # not the holder: nothing changes
    assert await ledger.claim(slot, "b") == "busy"
    await ledger.release(slot, "a")
    assert await ledger.claim(slot, "b") == "claimed"
    assert await ledger.claim("s:sch-1@2026-11-24T08:02:00Z", "a") == "claimed"  # slots differ


async def test_a_done_slot_stays_done_for_everyone(ledgers: LedgerMaker) -> None:
    ledger = ledgers()
    slot = "s:sch-1@2026-11-24T08:01:00Z"
    assert await ledger.claim(slot, "a") == "claimed"
    await ledger.done(slot)
    assert await ledger.claim(slot, "b") == "done"
    await ledger.release(slot, "a")  # a late release by the old holder does not undo it
    assert await ledger.claim(slot, "a") == "done"


async def test_a_claim_whose_lease_ran_out_can_be_taken(ledgers: LedgerMaker) -> None:
    """A process that crashed holding a slot does not block it for ever."""
    ledger = ledgers(lease_s=LEASE_S)
    slot = "s:sch-1@2026-11-24T08:01:00Z"
    assert await ledger.claim(slot, "crashed") == "claimed"
    # (that it is busy while the lease holds is the test above; no timing is asserted here)

    async def taken() -> bool:
        return await ledger.claim(slot, "b") == "claimed"

    await eventually(taken, timeout=10, interval=0.05)
