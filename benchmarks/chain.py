"""The chain listener's backfill from anvil to ``ixo.chain.logs``, against a raw web3
``get_logs`` loop over the same blocks; and the head-to-Kafka latency with 1-second blocks.

    python -m benchmarks.chain [--events N] [--per-tx N] [--latency-blocks N]

Backfill: a LogEmitter on a fresh anvil (automine) emits N ``Ping`` logs, ``--per-tx`` per
transaction. Ours: the listener's core with its real adapters (JSON-RPC over HTTP, Redis
checkpoints, Kafka with acks=all) follows a watch from the first emitting block until every log
is decoded, published, acknowledged and checkpointed; the clock runs from its first poll to
the last checkpoint. Baseline: ``web3.eth.get_logs`` over the same blocks in the same
block-range chunks (the listener's ``IXO_CHAIN_MAX_RANGE``): fetch and web3's own formatting
only, no decoding, no Kafka. Both run twice, the better run counts.

Latency: a second anvil mining a block every second, a transaction per block; for each log the
time from the block's first appearance at the node (``eth_blockNumber`` polled every 5 ms here)
to its record's Kafka timestamp (the producer's CreateTime), with the listener polling every
``--poll`` seconds and no confirmations.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from eth_account import Account
from web3 import Web3
from web3.types import TxParams

from benchmarks._stack import bench_settings, result_line
from consumers.chain_listener import (
    ChainListener,
    ContractAbis,
    HttpRpc,
    KafkaBatchSink,
    ListenerConfig,
    WatchState,
)
from consumers.chain_listener.app import checkpoints_of, log_producer, run_chain_listener
from contracts import compile_contracts
from infra.kafka import EventPublisher, client_options, ensure_topics, make_broker
from infra.redis import redis_client
from infra.runtime import tune_gc
from infra.settings import Settings
from infra.stack import RunningAnvil, start_anvil
from schemas import CHAIN_LOGS, CHAIN_WATCHES, ChainWatchAddedV1, CloudEvent, codec_for

ROOTS = ("fixtures/emitter",)


class Emitter:
    def __init__(self, anvil: RunningAnvil, build_dir: Path) -> None:
        artifact = compile_contracts(build_dir, roots=ROOTS).artifact("LogEmitter")
        self.abi = list(artifact.abi)
        self.w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 120}))
        self.account = Account.from_key(anvil.account(0)[1].get_secret_value())
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.send(factory.constructor().build_transaction(self.base()))
        self.address = Web3.to_checksum_address(receipt["contractAddress"])
        self.contract = self.w3.eth.contract(address=self.address, abi=artifact.abi)

    def base(self) -> TxParams:
        return {
            "from": self.account.address,
            "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
            "gas": 29_000_000,
        }

    def send(self, tx: Any, *, wait: bool = True) -> Any:
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        if not wait:
            return tx_hash
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.05)
        assert receipt["status"] == 1
        return receipt

    def ping(self, count: int, *, wait: bool = True) -> Any:
        call = self.contract.functions.ping(count, "benchmark")
        return self.send(call.build_transaction(self.base()), wait=wait)


# -- backfill ---------------------------------------------------------------------------------


def baseline(url: str, address: str, first: int, last: int, span: int) -> tuple[int, float]:
    """web3 ``get_logs`` over ``first..last`` in ``span``-block chunks: (logs, seconds)."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
    w3.eth.block_number  # noqa: B018 - connect first, outside the clock
    started = time.perf_counter()
    count = 0
    for start in range(first, last + 1, span):
        end = min(last, start + span - 1)
        found = w3.eth.get_logs(
            {"address": address, "fromBlock": start, "toBlock": end}  # type: ignore[typeddict-item]
        )
        count += len(found)
    return count, time.perf_counter() - started


async def ours(  # noqa: PLR0917 - a benchmark's own helper
    settings: Settings, anvil: RunningAnvil, emitter: Emitter, first: int, expected: int, run: int
) -> tuple[int, float]:
    """The listener's core with the real adapters: (logs published, seconds)."""
    chain_id = emitter.w3.eth.chain_id
    address = Web3.to_checksum_address(emitter.address)
    rpc = HttpRpc(anvil.url)
    tuned = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}run{run}."})
    await ensure_topics(tuned, [CHAIN_LOGS])
    producer = log_producer(tuned)
    await producer.start()
    redis = redis_client(settings)
    try:
        listener = ChainListener(
            chain_id,
            rpc=rpc,
            checkpoints=checkpoints_of(tuned, redis),
            sink=KafkaBatchSink(producer, CHAIN_LOGS.full_name(tuned.topic_prefix)),
            abis=ContractAbis(settings.state_dir / "contracts" / "build-info"),
            owner=f"bench-{run}",
            config=ListenerConfig(max_range=settings.chain_max_range),
        )
        listener.apply(
            ChainWatchAddedV1(chain_id=chain_id, address=address, abi=emitter.abi, from_block=first)
        )
        await rpc.head()  # connect first, outside the clock
        started = time.perf_counter()
        while await listener.poll():
            pass
        seconds = time.perf_counter() - started
        (follower,) = listener.followers.values()
        state = await listener.checkpoints.load(follower.key)
        assert isinstance(state, WatchState)
        assert state.next_block > first
        assert follower.published == expected, (follower.published, expected)
        return follower.published, seconds
    finally:
        await redis.aclose()
        await producer.stop()
        await rpc.aclose()


async def backfill(settings: Settings, events: int, per_tx: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="ixo-bench-chain-") as tmp:
        anvil = start_anvil(Path(tmp))
        try:
            emitter = Emitter(anvil, Path(tmp) / "build-info")
            first = emitter.w3.eth.block_number + 1
            started = time.perf_counter()
            hashes = [emitter.ping(per_tx, wait=False) for _ in range(events // per_tx)]
            for tx_hash in hashes:
                emitter.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
            last = emitter.w3.eth.block_number
            print(
                f"emitted {events:,} logs in {last - first + 1} blocks"
                f" ({time.perf_counter() - started:.1f}s)"
            )
            best_ours = best_base = 0.0
            for run in range(2):
                n, seconds = await ours(settings, anvil, emitter, first, events, run)
                rate = n / seconds
                print(f"ours     run {run + 1}: {n:,} logs in {seconds:.2f}s = {rate:,.0f} logs/s")
                best_ours = max(best_ours, rate)
                n, seconds = baseline(
                    anvil.url, emitter.address, first, last, settings.chain_max_range
                )
                assert n == events, (n, events)
                rate = n / seconds
                print(f"baseline run {run + 1}: {n:,} logs in {seconds:.2f}s = {rate:,.0f} logs/s")
                best_base = max(best_base, rate)
            return best_ours, best_base
        finally:
            anvil.stop()


# -- latency ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def listener_running(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_chain_listener(settings, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def head_times(url: str, stop: asyncio.Event, seen: dict[int, float]) -> None:
    """When each block number first appears at the node (polled every 5 ms)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    async with httpx.AsyncClient(trust_env=False) as client:
        while not stop.is_set():
            number = int((await client.post(url, json=body)).json()["result"], 16)
            seen.setdefault(number, time.time())
            await asyncio.sleep(0.005)


async def kafka_times(settings: Settings, count: int, timeout: float) -> dict[int, float]:
    """Block number -> the Kafka timestamp (seconds) of its first log's record."""
    topic = CHAIN_LOGS.full_name(settings.topic_prefix)
    decode = codec_for(CHAIN_LOGS).decode
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    out: dict[int, float] = {}
    try:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    event = decode(r.value or b"")
                    out.setdefault(event.data.block_number, r.timestamp / 1000)
    finally:
        await consumer.stop()
    return out


async def latency(settings: Settings, blocks: int, poll: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="ixo-bench-chain-lat-") as tmp:
        anvil = start_anvil(Path(tmp), block_time_s=1.0)
        try:
            emitter = await asyncio.to_thread(Emitter, anvil, Path(tmp) / "build-info")
            chain_id = emitter.w3.eth.chain_id
            tuned = settings.model_copy(
                update={
                    "eth_rpc_url": anvil.url,
                    "chain_poll_interval_s": poll,
                    "topic_prefix": f"{settings.topic_prefix}lat.",
                }
            )
            await ensure_topics(tuned, [CHAIN_LOGS, CHAIN_WATCHES])
            start = emitter.w3.eth.block_number + 1
            broker = make_broker(tuned, client_id="bench-chain-watch")
            await broker.start()
            try:
                data = ChainWatchAddedV1(
                    chain_id=chain_id, address=emitter.address, abi=emitter.abi, from_block=start
                )
                await EventPublisher(broker, tuned).publish(
                    CloudEvent.new(data, source="/benchmarks/chain"), CHAIN_WATCHES
                )
            finally:
                await broker.stop()
            seen: dict[int, float] = {}
            stop = asyncio.Event()
            watcher = asyncio.create_task(head_times(anvil.url, stop, seen))
            async with listener_running(tuned):
                for _ in range(blocks):
                    await asyncio.to_thread(emitter.ping, 1, wait=True)
                published = await kafka_times(tuned, blocks, timeout=60)
            stop.set()
            await watcher
            delays = sorted(published[n] - seen[n] for n in published if n in seen and n >= start)
            if not delays:
                msg = "no log reached Kafka"
                raise RuntimeError(msg)
            p50 = statistics.median(delays)
            p99 = delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))]
            return p50, p99
        finally:
            anvil.stop()


async def main(args: argparse.Namespace) -> None:
    tune_gc()
    with (
        bench_settings("chain") as base_settings,
        tempfile.TemporaryDirectory(prefix="ixo-bench-chain-state-") as state,
    ):
        settings = base_settings.model_copy(update={"state_dir": Path(state)})
        await ensure_topics(settings, [CHAIN_LOGS, CHAIN_WATCHES])
        rate, base = await backfill(settings, args.events, args.per_tx)
        print(f"backfill ratio (ours / raw web3 get_logs): {rate / base:.2f}")
        if args.latency_blocks:
            p50, p99 = await latency(settings, args.latency_blocks, args.poll)
            print(
                f"head-to-Kafka latency, 1 s blocks, poll {args.poll:g}s: "
                f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
                f" over {args.latency_blocks} blocks"
            )
        print(result_line("chain", rate, base, "logs/s"))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chain")
    parser.add_argument("--events", type=int, default=12_000)
    parser.add_argument("--per-tx", type=int, default=500)
    parser.add_argument("--latency-blocks", type=int, default=30)
    parser.add_argument("--poll", type=float, default=0.25)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
