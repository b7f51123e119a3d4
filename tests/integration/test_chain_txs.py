"""The transaction service against a real anvil (started here), Redis and Kafka: 50 concurrent
sends from one key all land with distinct nonces; one idempotency key sends one transaction
however often (and however concurrently) it is asked; a transaction the node dropped is sent
again, and one whose nonce another transaction took is signed again with a fresh nonce; every
outcome is on ``ixo.chain.txs``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from redis.asyncio import Redis

from contracts import JsonRpc, RedisTxStore, TransactionService, TxRequest, tx_id_for
from infra.kafka import EventPublisher
from infra.settings import Settings
from infra.stack import RunningAnvil
from schemas import CHAIN_TXS
from tests._kafka import events_on, eventually

SINK = "0x000000000000000000000000000000000000dEaD"


async def rpc(anvil: RunningAnvil, method: str, *params: Any) -> Any:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        reply = await client.post(
            anvil.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        )
    body = reply.json()
    assert "error" not in body, body
    return body["result"]


@pytest.fixture
async def make_service(
    anvil: RunningAnvil, settings: Settings, redis: Redis, publisher: EventPublisher
) -> AsyncIterator[Any]:
    made: list[TransactionService] = []

    def make(account: int, **options: Any) -> TransactionService:
        service = TransactionService(
            JsonRpc(anvil.url),
            anvil.account(account)[1],
            RedisTxStore(redis, f"{settings.topic_prefix}ixo:chain:"),
            publisher,
            source="/tests/chain-txs",
            **options,
        )
        made.append(service)
        return service

    yield make
    for service in made:
        await service.aclose()


def transfer(key: str, value: int = 1) -> TxRequest:
    return TxRequest(key=key, to=SINK, value=value, gas=21_000, what=f"transfer {value} wei")


async def test_fifty_concurrent_sends_from_one_key_all_land(
    make_service: Any, anvil: RunningAnvil, settings: Settings, test_id: str
) -> None:
    service: TransactionService = make_service(1)
    address = anvil.account(1)[0]
    first = int(await rpc(anvil, "eth_getTransactionCount", address, "latest"), 16)

    outcomes = await asyncio.gather(
        *(service.send(transfer(f"{test_id}:bulk:{n}", value=n + 1)) for n in range(50))
    )

    assert {o.status for o in outcomes} == {"confirmed"}
    nonces = sorted(o.nonce for o in outcomes)
    assert nonces == list(range(first, first + 50))  # distinct, no gap, no collision
    assert len({o.tx_hash for o in outcomes}) == 50
    after = int(await rpc(anvil, "eth_getTransactionCount", address, "latest"), 16)
    assert after == first + 50
    for outcome in outcomes[:5]:  # each really is that transfer, mined successfully
        tx = await rpc(anvil, "eth_getTransactionByHash", outcome.tx_hash)
        assert tx["to"].lower() == SINK.lower()
        assert tx["type"] == "0x2"  # EIP-1559
    events = await events_on(settings, CHAIN_TXS)
    by_type: dict[str, set[str]] = {}
    for event in events:
        by_type.setdefault(event["type"], set()).add(event["subject"])
    ids = {tx_id_for(f"{test_id}:bulk:{n}") for n in range(50)}
    assert by_type["ixo.chain.tx.submitted.v1"] == ids
    assert by_type["ixo.chain.tx.confirmed.v1"] == ids


async def test_one_key_sends_once(
    make_service: Any, anvil: RunningAnvil, settings: Settings, test_id: str
) -> None:
    service: TransactionService = make_service(2)
    other: TransactionService = make_service(2)  # another process with the same key
    address = anvil.account(2)[0]
    before = int(await rpc(anvil, "eth_getTransactionCount", address, "latest"), 16)
    key = f"{test_id}:once"

    together = await asyncio.gather(
        service.send(transfer(key)), other.send(transfer(key)), service.send(transfer(key))
    )
    again = await other.send(transfer(key))

    assert len({o.tx_hash for o in [*together, again]}) == 1
    after = int(await rpc(anvil, "eth_getTransactionCount", address, "latest"), 16)
    assert after == before + 1
    mine = [e for e in await events_on(settings, CHAIN_TXS) if e["subject"] == tx_id_for(key)]
    submitted = {e["id"] for e in mine if e["type"] == "ixo.chain.tx.submitted.v1"}
    confirmed = {e["id"] for e in mine if e["type"] == "ixo.chain.tx.confirmed.v1"}
    assert len(submitted) == 1
    assert len(confirmed) == 1  # published by each caller, under one event id
    assert mine[-1]["data"]["idempotency_key"] == key
    assert mine[-1]["data"]["sender"].lower() == address.lower()


async def test_a_key_reused_for_another_transaction_is_refused(
    make_service: Any, test_id: str
) -> None:
    from contracts import IdempotencyConflict

    service: TransactionService = make_service(3)
    await service.send(transfer(f"{test_id}:reuse", value=5))
    with pytest.raises(IdempotencyConflict, match="already sent another transaction"):
        await service.send(transfer(f"{test_id}:reuse", value=6))


class Miner:
    """anvil without automine, and a block mined on demand or every ``every`` seconds."""

    def __init__(self, anvil: RunningAnvil) -> None:
        self.anvil = anvil
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Miner:
        await rpc(self.anvil, "evm_setAutomine", False)
        return self

    def start(self, every: float = 0.2) -> None:
        async def loop() -> None:
            while True:
                await rpc(self.anvil, "evm_mine")
                await asyncio.sleep(every)

        self.task = asyncio.create_task(loop())

    async def __aexit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()
        await rpc(self.anvil, "evm_setAutomine", True)


async def test_a_dropped_transaction_is_sent_again(
    make_service: Any, anvil: RunningAnvil, test_id: str
) -> None:
    service: TransactionService = make_service(4, poll_s=0.05, check_dropped_s=0.3)
    key = f"{test_id}:dropped"
    async with Miner(anvil) as miner:
        sending = asyncio.create_task(service.send(transfer(key)))
        record = await eventually(lambda: service.lookup(key))
        sent = record.latest.tx_hash
        await eventually(lambda: rpc(anvil, "eth_getTransactionByHash", sent))
        await rpc(anvil, "anvil_dropTransaction", sent)
        assert await rpc(anvil, "eth_getTransactionByHash", sent) is None
        # the service notices and hands the same signed transaction to the node again
        await eventually(lambda: rpc(anvil, "eth_getTransactionByHash", sent))
        miner.start()
        outcome = await asyncio.wait_for(sending, 30)
    assert outcome.status == "confirmed"
    assert outcome.tx_hash == sent
    assert outcome.attempts == 1


async def test_a_replaced_transaction_is_signed_again_with_a_fresh_nonce(
    make_service: Any, anvil: RunningAnvil, settings: Settings, test_id: str
) -> None:
    service: TransactionService = make_service(5, poll_s=0.05, check_dropped_s=0.3)
    _, secret = anvil.account(5)
    signer = Account.from_key(secret.get_secret_value())
    key = f"{test_id}:replaced"
    async with Miner(anvil) as miner:
        sending = asyncio.create_task(service.send(transfer(key)))
        record = await eventually(lambda: service.lookup(key))
        first = record.latest
        await eventually(lambda: rpc(anvil, "eth_getTransactionByHash", first.tx_hash))
        # someone else with this key takes the nonce: our transaction is out of the pool and
        # another one with its nonce is mined
        await rpc(anvil, "anvil_dropTransaction", first.tx_hash)
        other = signer.sign_transaction(
            {
                "type": 2,
                "chainId": service.chain_id,
                "nonce": first.nonce,
                "to": signer.address,
                "value": 0,
                "gas": 21_000,
                "maxFeePerGas": first.max_fee_per_gas,
                "maxPriorityFeePerGas": first.max_priority_fee_per_gas,
            }
        )
        await rpc(anvil, "eth_sendRawTransaction", "0x" + bytes(other.raw_transaction).hex())
        await rpc(anvil, "evm_mine")
        miner.start()
        outcome = await asyncio.wait_for(sending, 30)
    assert outcome.status == "confirmed"
    assert outcome.tx_hash != first.tx_hash
    assert outcome.nonce > first.nonce
    assert outcome.attempts == 2
    receipt = await rpc(anvil, "eth_getTransactionReceipt", outcome.tx_hash)
    assert receipt["status"] == "0x1"
    assert (await rpc(anvil, "eth_getTransactionByHash", outcome.tx_hash))["to"].lower() == (
        SINK.lower()
    )
    mine = [e for e in await events_on(settings, CHAIN_TXS) if e["subject"] == tx_id_for(key)]
    submitted = [e["data"] for e in mine if e["type"] == "ixo.chain.tx.submitted.v1"]
    assert [s["attempt"] for s in submitted] == [1, 2]
    assert submitted[1]["replaces"] == first.tx_hash
    assert mine[-1]["type"] == "ixo.chain.tx.confirmed.v1"
    assert mine[-1]["data"]["tx_hash"] == outcome.tx_hash
