"""The ``chain_logs`` projection on real Kafka and FerretDB, read through the gateway's
``GET /v1/chain/logs`` and ``ixo chain-logs``: logs published to ``ixo.chain.logs`` become one
row each (chain id, block hash, log index); a reorg's retraction (``removed=true``) marks the
row removed and the canonical log replaces it in the default listing; filters by address,
event and block; bad parameters are 422 naming the parameter; callers must authenticate."""

from __future__ import annotations

import json
from typing import Any

import httpx

from infra.kafka import EventPublisher
from schemas import CHAIN_LOGS, ChainLogObservedV1, CloudEvent
from tests._cli import aixo
from tests._kafka import eventually
from tests.integration.conftest import UserToken, bearer

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
OWNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def block_hash(n: int, branch: str = "a") -> str:
    return "0x" + f"{branch}{n:x}".rjust(64, "0")


def tx_hash(n: int) -> str:
    return "0x" + f"{n:x}".rjust(64, "f")


def log(
    address: str,
    number: int,
    index: int,
    event: str,
    *,
    branch: str = "a",
    removed: bool = False,
    **args: Any,
) -> ChainLogObservedV1:
    return ChainLogObservedV1(
        chain_id=31337,
        address=address,
        block_number=number,
        block_hash=block_hash(number, branch),
        tx_hash=tx_hash(number * 10 + index),
        log_index=index,
        event=event,
        args=args,
        removed=removed,
    )


async def publish(publisher: EventPublisher, *logs: ChainLogObservedV1) -> None:
    for item in logs:
        # the listener's deterministic ids: (chain id, block hash, log index, removed)
        event_id = f"{item.chain_id}-{item.block_hash[-6:]}-{item.log_index}-{int(item.removed)}"
        await publisher.publish(
            CloudEvent.new(item, source="/tests/chain-logs", event_id=event_id), CHAIN_LOGS
        )


REGISTERED = {"id": 1, "owner": OWNER, "symbol": "BTCUSDT", "kind": 0, "threshold": "6500000000000"}


async def test_logs_are_projected_and_a_reorg_is_reflected(
    gateway: httpx.AsyncClient,
    publisher: EventPublisher,
    user_token: UserToken,
    settings_env: dict[str, str],
) -> None:
    headers = bearer(await user_token("reader"))
    await publish(
        publisher,
        log(REGISTRY, 10, 0, "AlertRegistered", **REGISTERED),
        log(REGISTRY, 11, 3, "AlertCancelled", id=1, owner=OWNER),
        log(OTHER, 11, 0, "Transfer", value="12"),
    )

    async def listed(**params: Any) -> list[dict[str, Any]]:
        reply = await gateway.get("/v1/chain/logs", params=params, headers=headers)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["count"] == len(body["logs"])
        return list(body["logs"])

    async def count_is(n: int, **params: Any) -> list[dict[str, Any]] | None:
        found = await listed(**params)
        return found if len(found) == n else None

    everything = await eventually(lambda: count_is(3))
    assert [(r["block_number"], r["log_index"]) for r in everything] == [(11, 3), (11, 0), (10, 0)]
    mine = await listed(address=REGISTRY.lower())  # any case finds the contract
    assert [r["event"] for r in mine] == ["AlertCancelled", "AlertRegistered"]
    assert mine[1]["args"] == REGISTERED
    assert mine[1]["address"] == REGISTRY.lower()
    assert mine[1]["removed"] is False
    assert [r["event"] for r in await listed(event="Transfer")] == ["Transfer"]
    assert [r["block_number"] for r in await listed(since_block=11)] == [11, 11]

    # block 10 is reorged out; the registration lands in block 10 of the new branch
    await publish(
        publisher,
        log(REGISTRY, 10, 0, "AlertRegistered", removed=True, **REGISTERED),
        log(REGISTRY, 10, 0, "AlertRegistered", branch="b", **REGISTERED),
    )

    async def reorged() -> list[dict[str, Any]] | None:
        found = await listed(address=REGISTRY, event="AlertRegistered")
        hashes = [r["block_hash"] for r in found]
        return found if hashes == [block_hash(10, "b")] else None

    canonical = await eventually(reorged)
    assert canonical[0]["removed"] is False
    with_removed = await listed(address=REGISTRY, event="AlertRegistered", include_removed="true")
    assert {(r["block_hash"], r["removed"]) for r in with_removed} == {
        (block_hash(10, "a"), True),
        (block_hash(10, "b"), False),
    }

    # the canonical log published twice (a producer retry) is still one row
    await publish(publisher, log(REGISTRY, 10, 0, "AlertRegistered", branch="b", **REGISTERED))
    await publish(publisher, log(REGISTRY, 12, 0, "Subscribed", wallet=OWNER, channel="tg"))
    await eventually(lambda: count_is(1, address=REGISTRY, since_block=12))  # after the retry
    assert len(await listed(address=REGISTRY)) == 3
    assert len(await listed(address=REGISTRY, include_removed="true")) == 4

    done = await aixo(settings_env, "chain-logs", "--address", REGISTRY, "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["event"], r["block_hash"]) for r in rows] == [
        ("Subscribed", block_hash(12)),
        ("AlertCancelled", block_hash(11)),
        ("AlertRegistered", block_hash(10, "b")),
    ]
    bad = await aixo(settings_env, "chain-logs", "--address", "0x123")
    assert bad.returncode == 2
    assert "address" in bad.stderr


async def test_bad_parameters_and_no_credentials(
    gateway: httpx.AsyncClient, user_token: UserToken
) -> None:
    headers = bearer(await user_token("reader"))
    for params, name in (
        ({"address": "0x12"}, "address"),
        ({"since_block": "-1"}, "since_block"),
        # beyond a 64-bit integer: the database cannot take it (the fuzzer found a 500 here)
        ({"since_block": str(2**63)}, "since_block"),
        ({"limit": "501"}, "limit"),
        ({"event": ""}, "event"),
    ):
        reply = await gateway.get("/v1/chain/logs", params=params, headers=headers)
        assert reply.status_code == 422, (params, reply.text)
        assert reply.json()["detail"][0]["loc"] == ["query", name]
    assert (await gateway.get("/v1/chain/logs")).status_code == 401
