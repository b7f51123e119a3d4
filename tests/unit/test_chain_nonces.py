"""The nonce manager and the fee rule of the transaction service, without a node: nonces handed
to concurrent sends are distinct and gap-free, a send that fails gives its nonce to the next,
the node's correction (resync) wins, and EIP-1559 fees follow the fee history."""

from __future__ import annotations

import asyncio
import random

import pytest

from contracts import FeePolicy, FeesTooHigh, NonceManager, fees_from_history


class Node:
    """The account's pending nonce as a node would report it: what was sent, plus whatever
    another process sent with the same key (``foreign``)."""

    def __init__(self, start: int = 7) -> None:
        self.sent: list[int] = []
        self.start = start
        self.foreign = 0
        self.reads = 0

    async def pending(self) -> int:
        self.reads += 1
        await asyncio.sleep(0)
        return self.start + len(self.sent) + self.foreign

    async def send(self, nonce: int) -> None:
        """Accepts only the next nonce, like a node's pool for a gap-free account."""
        await asyncio.sleep(random.random() / 1000)
        expected = self.start + len(self.sent) + self.foreign
        if nonce < expected:
            msg = "nonce too low"
            raise ValueError(msg)
        self.sent.append(nonce)


async def test_concurrent_sends_get_distinct_gap_free_nonces() -> None:
    node = Node()
    manager = NonceManager(node.pending)

    async def send() -> int:
        async with manager.slot() as slot:
            await node.send(slot.nonce)
            slot.commit()
            return slot.nonce

    got = await asyncio.gather(*(send() for _ in range(50)))
    assert sorted(got) == list(range(7, 57))
    assert len(set(got)) == 50
    assert node.reads == 1  # read once, then counted locally
    assert manager.next_nonce == 57


async def test_a_failed_send_gives_its_nonce_to_the_next() -> None:
    node = Node(start=0)
    manager = NonceManager(node.pending)

    async def refused() -> None:
        async with manager.slot() as slot:
            assert slot.nonce == 0
            msg = "the node refused it for another reason"
            raise RuntimeError(msg)

    with pytest.raises(RuntimeError):
        await refused()
    async with manager.slot() as slot:
        assert slot.nonce == 0  # no gap left behind
        await node.send(slot.nonce)
        slot.commit()
    assert manager.next_nonce == 1


async def test_nonce_too_low_resyncs_from_the_node() -> None:
    node = Node(start=3)
    manager = NonceManager(node.pending)
    async with manager.slot() as slot:
        await node.send(slot.nonce)
        slot.commit()
    node.foreign = 2  # another process sent two transactions with the same key
    async with manager.slot() as slot:
        assert slot.nonce == 4
        with pytest.raises(ValueError, match="nonce too low"):
            await node.send(slot.nonce)
        assert await slot.resync() == 6
        await node.send(slot.nonce)
        slot.commit()
    assert manager.next_nonce == 7
    assert manager.resyncs == 1


async def test_a_resynced_slot_that_is_not_sent_keeps_the_node_count() -> None:
    node = Node(start=0)
    manager = NonceManager(node.pending)
    async with manager.slot() as slot:
        await node.send(slot.nonce)
        slot.commit()
    node.foreign = 3
    async with manager.slot() as slot:
        await slot.resync()
    async with manager.slot() as slot:
        assert slot.nonce == 4


async def test_invalidate_reads_the_node_again() -> None:
    node = Node(start=10)
    manager = NonceManager(node.pending)
    async with manager.slot() as slot:
        slot.commit()
    assert manager.next_nonce == 11
    await manager.invalidate()
    assert manager.next_nonce is None
    async with manager.slot() as slot:
        assert slot.nonce == 10  # what the node says (the committed one never reached it)
    assert node.reads == 2


def test_fees_double_the_next_base_fee_plus_the_median_tip() -> None:
    history = {
        "baseFeePerGas": ["0x3b9aca00", "0x3b9aca00", "0x77359400"],  # next block: 2 gwei
        "reward": [["0x5f5e100"], ["0x2faf080"], ["0x3b9aca00"]],  # 0.1, 0.05, 1 gwei
    }
    fees = fees_from_history(history, FeePolicy())
    assert fees.base_fee_wei == 2 * 10**9
    assert fees.max_priority_fee_per_gas == 10**8  # the median
    assert fees.max_fee_per_gas == 4 * 10**9 + 10**8


def test_fees_have_a_floor_and_a_cap() -> None:
    free = {"baseFeePerGas": ["0x7", "0x7"], "reward": [["0x0"]]}
    assert fees_from_history(free, FeePolicy()).max_priority_fee_per_gas == 10**6
    costly = {"baseFeePerGas": [hex(100 * 10**9)], "reward": [["0x1"]]}
    capped = FeePolicy(max_fee_cap_wei=150 * 10**9)
    assert fees_from_history(costly, capped).max_fee_per_gas == 150 * 10**9
    with pytest.raises(FeesTooHigh, match="exceed the cap"):
        fees_from_history(costly, FeePolicy(max_fee_cap_wei=50 * 10**9))
    with pytest.raises(FeesTooHigh, match="not an EIP-1559 chain"):
        fees_from_history({"baseFeePerGas": []}, FeePolicy())
