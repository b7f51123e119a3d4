"""The chain listener against a real anvil (its own, on a free port), Kafka and Redis: logs
decoded and published once with deterministic ids, undecodable logs published raw, watches
added and removed while it runs, and a provider that refuses large ranges handled by shrinking
without skipping a block."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from eth_utils.abi import event_abi_to_log_topic

from consumers.chain_listener import log_event_id
from contracts import Build
from infra.kafka import EventPublisher
from infra.settings import Settings
from infra.stack import RunningAnvil
from infra.stack.standins import LocalServer
from tests._kafka import eventually
from tests.integration._chain_listener import (
    CHAIN_ID,
    Emitter,
    RangeLimitProxy,
    add_watch,
    folded,
    listener_settings,
    listening,
    published,
    published_at_least,
    remove_watch,
)


@pytest.fixture
def emitter(anvil: RunningAnvil, emitter_build: Build) -> Emitter:
    return Emitter(anvil, emitter_build)


async def test_logs_are_decoded_and_published_once_with_deterministic_ids(
    settings: Settings, publisher: EventPublisher, anvil: RunningAnvil, emitter: Emitter
) -> None:
    ping_only = [item for item in emitter.abi if item.get("name") == "Ping"]
    start = emitter.head()
    await add_watch(publisher, CHAIN_ID, emitter.address, abi=ping_only, from_block=start)
    async with listening(listener_settings(settings, anvil.url)):
        await asyncio.to_thread(emitter.ping, 3, "first")
        await asyncio.to_thread(emitter.raw, b"\x01" * 32, b"\xff\x00")
        await asyncio.to_thread(emitter.ping, 2, "second")
        records = await eventually(
            lambda: published_at_least(settings, emitter.address, 6), timeout=60
        )
    assert len(records) == 6
    assert len({r.id for r in records}) == 6
    pings = [r.data for r in records if r.data.event == "Ping"]
    assert [p.args["seq"] for p in pings] == ["0", "1", "2", "3", "4"]
    first = pings[0]
    assert first.decoded
    assert first.args["from"] == emitter.account.address  # checksummed
    assert first.args["value"] == "0"
    assert pings[1].args["value"] == str(10**18)
    assert first.args["note"] == "first"
    assert first.address == emitter.address
    assert first.block_time is not None
    assert len(first.topics) == 3
    # The one log the ABI does not know: published raw, its signature hash as the name.
    (raw,) = [r.data for r in records if r.data.event != "Ping"]
    raw_abi = next(item for item in emitter.abi if item.get("name") == "Raw")
    assert raw.event == "0x" + event_abi_to_log_topic(raw_abi).hex()  # type: ignore[arg-type]
    assert not raw.decoded
    assert raw.args == {}
    assert raw.topics[1] == "0x" + "01" * 32
    assert raw.data.endswith("ff00" + "00" * 30)
    # Ids are (chain id, block hash, log index), so a second publish would repeat them.
    for r in records:
        assert r.id == log_event_id(CHAIN_ID, r.data.block_hash, r.data.log_index)
    # One address, one key, one partition: in chain order.
    assert len({r.partition for r in records}) == 1
    order = [(r.data.block_number, r.data.log_index) for r in records]
    assert order == sorted(order)
    assert folded(records) == emitter.canonical(start)


async def test_a_watch_added_while_running_is_followed_and_a_removed_one_stops(
    settings: Settings,
    publisher: EventPublisher,
    anvil: RunningAnvil,
    emitter_build: Build,
) -> None:
    one, two = Emitter(anvil, emitter_build), Emitter(anvil, emitter_build)
    await add_watch(publisher, CHAIN_ID, one.address, abi=one.abi, from_block=emitter_head(one))
    async with listening(listener_settings(settings, anvil.url)):
        await asyncio.to_thread(one.ping, 2)
        await eventually(lambda: published_at_least(settings, one.address, 2), timeout=60)
        # Added while running, from a block in the past: its earlier logs come too.
        before = two.head()
        await asyncio.to_thread(two.ping, 1, "before the watch")
        await add_watch(publisher, CHAIN_ID, two.address, abi=two.abi, from_block=before)
        await asyncio.to_thread(two.ping, 1, "after the watch")
        got = await eventually(lambda: published_at_least(settings, two.address, 2), timeout=60)
        assert [p.data.args["note"] for p in got] == ["before the watch", "after the watch"]
        # Removed: what it emits next is not published; the other watch goes on.
        await remove_watch(publisher, CHAIN_ID, one.address)
        await _until_removed_applies(settings, publisher, two)
        await asyncio.to_thread(one.ping, 5, "unwatched")
        await asyncio.to_thread(two.ping, 1, "still watched")
        await eventually(lambda: published_at_least(settings, two.address, 4), timeout=60)
    assert len(await published(settings, one.address)) == 2
    assert {p.data.args["note"] for p in await published(settings, two.address)} >= {
        "still watched"
    }


def emitter_head(emitter: Emitter) -> int:
    return emitter.head()


async def _until_removed_applies(
    settings: Settings, publisher: EventPublisher, other: Emitter
) -> None:
    """A marker log on the other watch, published after the removal was published: once it is
    on Kafka the listener has read the removal (the watch topic is read before each poll)."""
    await asyncio.to_thread(other.ping, 1, "marker")
    count = len(await published(settings, other.address))
    await eventually(lambda: published_at_least(settings, other.address, count), timeout=60)


async def test_a_provider_refusing_large_ranges_is_handled_by_shrinking(
    settings: Settings, publisher: EventPublisher, anvil: RunningAnvil, emitter: Emitter
) -> None:
    start = emitter.head()
    for _ in range(4):
        await asyncio.to_thread(emitter.ping, 3, "spread")
        emitter.rpc("anvil_mine", hex(97))
    head = emitter.head()
    proxy = RangeLimitProxy(anvil.url, max_blocks=50)
    async with LocalServer(proxy, name="range-limit proxy") as server:
        tuned = listener_settings(settings, server.url, chain_max_range=1000)
        await add_watch(publisher, CHAIN_ID, emitter.address, abi=emitter.abi, from_block=start)
        async with listening(tuned):
            records = await eventually(
                lambda: published_at_least(settings, emitter.address, 12), timeout=90
            )
            await eventually(lambda: _served_through(proxy, head), timeout=60)
    assert proxy.refused, "the proxy never refused a range: the test did not test shrinking"
    assert proxy.refused[0] == head - start + 1  # the whole backfill at once, refused
    assert all(last - first + 1 <= 50 for first, last in proxy.served)
    # No block skipped: the served ranges tile start..head without a gap or an overlap.
    tiles = sorted(proxy.served)
    assert tiles[0][0] == start
    for (_, last), (first, _) in itertools.pairwise(tiles):
        assert first == last + 1
    assert len(records) == 12
    assert len({r.id for r in records}) == 12
    assert folded(records) == emitter.canonical(start)


async def _served_through(proxy: RangeLimitProxy, head: int) -> bool:
    return any(last >= head for _, last in proxy.served)
