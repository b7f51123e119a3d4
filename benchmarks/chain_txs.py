"""The transaction service's throughput: N transfers sent concurrently from one key through
``contracts.TransactionService`` (idempotency record in Redis before each send, nonce lock,
fee history, receipts, events on Kafka with acks=all), against a bare loop over the same
JSON-RPC: sign with a local nonce counter, ``eth_sendRawTransaction``, then poll every
receipt (no idempotency, no recovery, no events). Both on a fresh anvil (automine).

    python -m benchmarks.chain_txs [--txs N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from eth_account import Account
from redis.asyncio import Redis

from benchmarks._stack import bench_settings, result_line
from contracts import JsonRpc, RedisTxStore, TransactionService, TxRequest
from infra.kafka import EventPublisher, ensure_topics, make_broker
from infra.stack import start_anvil
from schemas import CHAIN_TXS

SINK = "0x000000000000000000000000000000000000dEaD"


async def baseline(url: str, key: str, n: int) -> float:
    """Sign and send ``n`` transfers in order, then wait for every receipt: tx/s."""
    rpc = JsonRpc(url)
    account = Account.from_key(key)
    try:
        chain_id = await rpc.chain_id()
        nonce = await rpc.nonce(account.address)
        start = time.perf_counter()
        hashes = []
        for i in range(n):
            signed = account.sign_transaction(
                {
                    "type": 2,
                    "chainId": chain_id,
                    "nonce": nonce + i,
                    "to": SINK,
                    "value": 1,
                    "gas": 21_000,
                    "maxFeePerGas": 10**10,
                    "maxPriorityFeePerGas": 10**6,
                }
            )
            hashes.append(await rpc.send_raw("0x" + bytes(signed.raw_transaction).hex()))
        for tx_hash in hashes:
            while await rpc.receipt(tx_hash) is None:  # noqa: ASYNC110 - polling the node
                await asyncio.sleep(0.01)
        return n / (time.perf_counter() - start)
    finally:
        await rpc.aclose()


async def ours(url: str, key: str, n: int, run: str) -> float:
    from pydantic import SecretStr

    with bench_settings("chain-txs") as settings:
        await ensure_topics(settings, [CHAIN_TXS])
        broker = make_broker(settings, client_id="bench-chain-txs")
        await broker.connect()
        redis = Redis.from_url(settings.redis_url)
        service = TransactionService(
            JsonRpc(url),
            SecretStr(key),
            RedisTxStore(redis, f"{settings.topic_prefix}bench:"),
            EventPublisher(broker, settings),
            source="/benchmarks/chain-txs",
            poll_s=0.05,
        )
        try:
            await service.start()
            start = time.perf_counter()
            outcomes = await asyncio.gather(
                *(
                    service.send(TxRequest(key=f"{run}:{i}", to=SINK, value=1, gas=21_000))
                    for i in range(n)
                )
            )
            elapsed = time.perf_counter() - start
            assert all(o.status == "confirmed" for o in outcomes)
            assert len({o.nonce for o in outcomes}) == n
            return n / elapsed
        finally:
            await service.aclose()
            await redis.aclose()
            await broker.stop()


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-anvil-") as tmp:
        anvil = start_anvil(Path(tmp))
        try:
            ours_rate = await ours(anvil.url, anvil.account(1)[1].get_secret_value(), n, tmp)
            base_rate = await baseline(anvil.url, anvil.account(2)[1].get_secret_value(), n)
        finally:
            anvil.stop()
    print(f"{n} transfers: ours {ours_rate:.0f} tx/s, bare send loop {base_rate:.0f} tx/s")
    print(result_line("chain_txs", ours_rate, base_rate, "tx/s"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=500)
    asyncio.run(main(parser.parse_args().txs))
