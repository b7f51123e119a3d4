"""``ixo run chain-listener`` as a user runs it (a subprocess), killed with SIGKILL twice in the
middle of a backfill and started again: every log reaches ``ixo.chain.logs`` under exactly one
event id, none is missing, and the ids are the same however often a log was re-sent between
Kafka's ack and the checkpoint. SIGTERM stops it cleanly (exit 0, the lease released)."""

from __future__ import annotations

import asyncio
import signal
import sys

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
    Published,
    RangeLimitProxy,
    add_watch,
    published,
    published_at_least,
)

BLOCKS = 120
PER_BLOCK = 25


def _emit(emitter: Emitter) -> None:
    for _ in range(BLOCKS):
        emitter.ping(PER_BLOCK, "backfill")


async def _start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "run",
        "chain-listener",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_kill_9_mid_backfill_neither_skips_nor_repeats_a_log(
    settings: Settings,
    settings_env: dict[str, str],
    publisher: EventPublisher,
    anvil: RunningAnvil,
    emitter_build: Build,
) -> None:
    emitter = Emitter(anvil, emitter_build)
    start = emitter.head()
    await asyncio.to_thread(_emit, emitter)
    total = BLOCKS * PER_BLOCK
    await add_watch(publisher, CHAIN_ID, emitter.address, abi=emitter.abi, from_block=start)
    # A slow provider (one block per call, 40 ms each) so the backfill lasts long enough to
    # be killed in the middle, twice.
    proxy = RangeLimitProxy(anvil.url, max_blocks=1, delay_s=0.04)
    with LocalServer(proxy, name="slow provider") as server:
        env = {
            **settings_env,
            "IXO_ETH_RPC_URL": server.url,
            "IXO_CHAIN_POLL_INTERVAL_S": "0.1",
            # Short, so a restart after a kill takes the watch over soon; not shorter than a
            # step on a loaded machine: a step that outlives its lease is redone from the
            # checkpoint (its logs published again), which the bound below does not allow for.
            "IXO_CHAIN_LEASE_S": "6",
            "IXO_LOG_LEVEL": "WARNING",
        }
        seen = 0
        for _ in range(2):
            proc = await _start(env)
            try:
                got = await eventually(
                    lambda n=seen: published_at_least(settings, emitter.address, n + PER_BLOCK + 1),
                    timeout=90,
                )
            finally:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
            seen = len(got)
            assert seen < total, "the backfill finished before the kill: nothing was tested"
        proc = await _start(env)
        try:
            records = await eventually(
                lambda: _distinct_at_least(settings, emitter.address, total), timeout=120
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, stderr.decode()[-2000:]
    expected = {
        log_event_id(CHAIN_ID, block_hash, index) for block_hash, index in emitter.canonical(start)
    }
    assert len(expected) == total
    ids = [r.id for r in records]
    assert set(ids) == expected
    # A log sent again after a kill (between the ack and the checkpoint) has its first id; at
    # most the steps in flight at the two kills are sent twice.
    assert len(ids) - len(set(ids)) <= 2 * PER_BLOCK
    seqs = sorted({int(r.data.args["seq"]) for r in records})
    assert seqs == list(range(total))


async def _distinct_at_least(
    settings: Settings, address: str, count: int
) -> list[Published] | None:
    found = await published(settings, address)
    return found if len({r.id for r in found}) >= count else None
