"""Reorgs on a real anvil (its own: these tests rewrite its chain): ``anvil_reorg`` of depth 1 to
64 and an ``evm_revert`` that shortens the chain. Every log the abandoned branch carried is
published again with ``removed=true`` after its original, the canonical logs follow, and a
consumer folding the topic ends with exactly the node's canonical logs."""

from __future__ import annotations

import asyncio

import pytest

from contracts import Build
from infra.kafka import EventPublisher
from infra.settings import Settings
from infra.stack import RunningAnvil
from tests._kafka import eventually
from tests.integration._chain_listener import (
    CHAIN_ID,
    Emitter,
    Published,
    add_watch,
    folded,
    listener_settings,
    listening,
    published,
    published_at_least,
)


async def _settled(
    settings: Settings, emitter: Emitter, start: int, note: str
) -> list[Published] | None:
    """The records once the fold equals the node's canonical logs and ``note`` is in it."""
    records = await published(settings, emitter.address)
    if not any(r.data.args.get("note") == note and not r.data.removed for r in records):
        return None
    return records if folded(records) == emitter.canonical(start) else None


def _emit_doomed(emitter: Emitter, depth: int) -> int:
    """Logs in the first and the last of the next ``depth`` blocks; how many."""
    emitter.ping(2, "doomed")
    if depth == 1:
        return 2
    if depth > 2:
        emitter.rpc("anvil_mine", hex(depth - 2))
    emitter.ping(1, "doomed")
    return 3


def _check_retractions(records: list[Published], doomed: set[tuple[str, int]]) -> None:
    first_seen: dict[tuple[str, int], int] = {}
    for r in records:
        key = (r.data.block_hash, r.data.log_index)
        if not r.data.removed:
            first_seen.setdefault(key, r.offset)
    removed = {(r.data.block_hash, r.data.log_index): r for r in records if r.data.removed}
    assert set(removed) == doomed
    for key, r in removed.items():
        assert first_seen[key] < r.offset, "a retraction came before the log it retracts"
        assert r.data.args.get("note") == "doomed"
    assert len({r.partition for r in records}) == 1
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)), "an event was published twice"


@pytest.mark.parametrize("depth", [1, 2, 5, 16, 64])
async def test_a_reorg_retracts_the_abandoned_logs_then_publishes_the_canonical_ones(
    settings: Settings,
    publisher: EventPublisher,
    anvil: RunningAnvil,
    emitter_build: Build,
    depth: int,
) -> None:
    emitter = Emitter(anvil, emitter_build)
    start = emitter.head()
    await add_watch(publisher, CHAIN_ID, emitter.address, abi=emitter.abi, from_block=start)
    async with listening(listener_settings(settings, anvil.url)):
        await asyncio.to_thread(emitter.ping, 1, "stable")
        doomed_count = await asyncio.to_thread(_emit_doomed, emitter, depth)
        before = await eventually(
            lambda: published_at_least(settings, emitter.address, 1 + doomed_count), timeout=60
        )
        doomed = {
            (r.data.block_hash, r.data.log_index) for r in before if r.data.args["note"] == "doomed"
        }
        assert len(doomed) == doomed_count
        emitter.rpc("anvil_reorg", depth, [])
        assert not doomed & emitter.canonical(start), "anvil kept a doomed block"
        await asyncio.to_thread(emitter.ping, 1, "after")
        records = await eventually(lambda: _settled(settings, emitter, start, "after"), timeout=60)
    _check_retractions(records, doomed)


async def test_a_revert_that_shortens_the_chain_is_retracted_too(
    settings: Settings, publisher: EventPublisher, anvil: RunningAnvil, emitter_build: Build
) -> None:
    emitter = Emitter(anvil, emitter_build)
    start = emitter.head()
    await add_watch(publisher, CHAIN_ID, emitter.address, abi=emitter.abi, from_block=start)
    async with listening(listener_settings(settings, anvil.url)):
        await asyncio.to_thread(emitter.ping, 1, "stable")
        snapshot = emitter.rpc("evm_snapshot")["result"]
        await asyncio.to_thread(emitter.ping, 2, "doomed")
        await asyncio.to_thread(emitter.ping, 1, "doomed")
        before = await eventually(
            lambda: published_at_least(settings, emitter.address, 4), timeout=60
        )
        doomed = {
            (r.data.block_hash, r.data.log_index) for r in before if r.data.args["note"] == "doomed"
        }
        assert emitter.rpc("evm_revert", snapshot)["result"] is True
        # The chain is now shorter than what was published; one new block on the new branch.
        await asyncio.to_thread(emitter.ping, 1, "after")
        records = await eventually(lambda: _settled(settings, emitter, start, "after"), timeout=60)
    _check_retractions(records, doomed)
