"""Helpers of the chain listener's tests: a LogEmitter contract on a real anvil (deploy, emit
many logs per transaction, reorgs), the listener's settings, the logs it published as a user
reads them from ``ixo.chain.logs``, and a JSON-RPC proxy that refuses large block ranges. The
anvil and the LogEmitter's build are fixtures (``anvil``, ``emitter_build`` in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_account import Account
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from web3 import Web3

from consumers.chain_listener.app import run_chain_listener
from contracts import Build
from infra.kafka import EventPublisher
from infra.settings import Settings
from infra.stack import RunningAnvil
from schemas import (
    CHAIN_LOGS,
    CHAIN_WATCHES,
    ChainLogObservedV1,
    ChainWatchAddedV1,
    ChainWatchRemovedV1,
    CloudEvent,
    codec_for,
)
from tests._kafka import read_topic

CHAIN_ID = 31337
"""anvil's chain id."""
EMITTER_ROOTS = ("fixtures/emitter",)


class Emitter:
    """A deployed LogEmitter, sending from anvil's dev account ``account``."""

    def __init__(self, anvil: RunningAnvil, build: Build, *, account: int = 0) -> None:
        self.w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 60}))
        self.artifact = build.artifact("LogEmitter")
        self.account = Account.from_key(anvil.account(account)[1].get_secret_value())
        receipt = self._send(
            self.w3.eth.contract(abi=self.artifact.abi, bytecode=self.artifact.bytecode)
            .constructor()
            .build_transaction(self._base())
        )
        self.address = str(receipt["contractAddress"])
        self.contract = self.w3.eth.contract(address=self.address, abi=self.artifact.abi)  # type: ignore[arg-type]

    @property
    def abi(self) -> list[dict[str, Any]]:
        return list(self.artifact.abi)

    def _base(self) -> dict[str, Any]:
        return {
            "from": self.account.address,
            "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
            "gas": 29_000_000,
        }

    def _send(self, tx: Any) -> Any:
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.05)
        assert receipt["status"] == 1
        return receipt

    def ping(self, count: int = 1, note: str = "hi") -> Any:
        """One transaction emitting ``count`` Ping logs (one block with automine)."""
        return self._send(self.contract.functions.ping(count, note).build_transaction(self._base()))

    def raw(self, tag: bytes, payload: bytes) -> Any:
        return self._send(self.contract.functions.raw(tag, payload).build_transaction(self._base()))

    def rpc(self, method: str, *params: Any) -> Any:
        return self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def canonical(self, first: int = 0) -> set[tuple[str, int]]:
        """(block hash, log index) of the emitter's logs on the canonical chain now."""
        found = self.w3.eth.get_logs(
            {"address": self.address, "fromBlock": first, "toBlock": "latest"}  # type: ignore[typeddict-item]
        )
        return {("0x" + bytes(lg["blockHash"]).hex(), int(lg["logIndex"])) for lg in found}


def listener_settings(settings: Settings, rpc_url: str, **extra: Any) -> Settings:
    """The test's settings pointed at ``rpc_url``, polling fast."""
    update: dict[str, Any] = {
        "eth_rpc_url": rpc_url,
        "chain_poll_interval_s": 0.1,
        "chain_lease_s": 2.0,
        **extra,
    }
    return settings.model_copy(update=update)


async def add_watch(publisher: EventPublisher, chain_id: int, address: str, **fields: Any) -> None:
    data = ChainWatchAddedV1(chain_id=chain_id, address=address, **fields)
    await publisher.publish(CloudEvent.new(data, source="/tests"), CHAIN_WATCHES)


async def remove_watch(publisher: EventPublisher, chain_id: int, address: str) -> None:
    data = ChainWatchRemovedV1(chain_id=chain_id, address=address)
    await publisher.publish(CloudEvent.new(data, source="/tests"), CHAIN_WATCHES)


@dataclass(frozen=True)
class Published:
    """One record of ``ixo.chain.logs``."""

    id: str
    partition: int
    offset: int
    data: ChainLogObservedV1


async def published(settings: Settings, address: str | None = None) -> list[Published]:
    """Every observed log on the test's ``ixo.chain.logs`` (of ``address``), in offset order."""
    decode = codec_for(CHAIN_LOGS).decode
    out = []
    for record in await read_topic(settings, CHAIN_LOGS):
        event = decode(record.value or b"")
        assert isinstance(event.data, ChainLogObservedV1)
        if address is None or event.data.address.lower() == address.lower():
            out.append(Published(event.id, record.partition, record.offset, event.data))
    out.sort(key=lambda p: (p.partition, p.offset))
    return out


async def published_at_least(
    settings: Settings, address: str, count: int
) -> list[Published] | None:
    """The records of ``address`` once there are ``count`` or more, else None (for
    ``eventually``)."""
    found = await published(settings, address)
    return found if len(found) >= count else None


def folded(records: list[Published]) -> set[tuple[str, int]]:
    """What a consumer that honours ``removed`` ends with: (block hash, log index) of the logs
    still standing, each distinct event id counted once."""
    seen: set[str] = set()
    standing: set[tuple[str, int]] = set()
    for p in records:
        if p.id in seen:
            continue
        seen.add(p.id)
        key = (p.data.block_hash, p.data.log_index)
        if p.data.removed:
            standing.discard(key)
        else:
            standing.add(key)
    return standing


@asynccontextmanager
async def listening(settings: Settings) -> AsyncIterator[asyncio.Task[Any]]:
    """The chain listener running in this event loop until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_chain_listener(settings, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@dataclass
class RangeLimitProxy:
    """A JSON-RPC proxy in front of a node that refuses ``eth_getLogs`` over ``max_blocks``
    blocks the way providers do (code -32005), and counts what it refused and served."""

    upstream: str
    max_blocks: int
    delay_s: float = 0.0
    """A pause before each ``eth_getLogs`` answer (a slow provider: a backfill that lasts)."""
    refused: list[int] = field(default_factory=list)
    served: list[tuple[int, int]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.json()
        response = await self._answer(body)
        await response(scope, receive, send)

    async def _answer(self, body: Any) -> Response:
        if isinstance(body, dict) and body.get("method") == "eth_getLogs":
            query = body["params"][0]
            first, last = int(query["fromBlock"], 16), int(query["toBlock"], 16)
            if last - first + 1 > self.max_blocks:
                self.refused.append(last - first + 1)
                return JSONResponse(
                    {
                        "jsonrpc": "2.0",
                        "id": body.get("id"),
                        "error": {
                            "code": -32005,
                            "message": f"block range too large: max {self.max_blocks} blocks",
                        },
                    }
                )
            self.served.append((first, last))
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
            reply = await client.post(self.upstream, json=body)
        return Response(reply.content, media_type="application/json")
