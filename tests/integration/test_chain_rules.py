"""The chain as one more client, end to end on a real anvil (started here), Kafka, Redis and
FerretDB: our AlertRegistry deployed behind its proxy; a wallet registers an alert on chain;
the chain listener publishes the log; the chain-rules consumer makes the rule (owner
``wallet:0x...``, id from chain, registry and alert id) through the service layer; a tick
crossing the threshold fires it through the real rule engine; the cancel deletes the rule, a
reorg retracting the registration deletes it too, and a retracted cancel restores it. The
platform's own alerts are the agent tool's: ``register_onchain_alert`` sends one transaction
per idempotency key and makes the asking user's rule; ``chain_events`` reads the projection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from web3 import Web3

from agent import TOOLS, MemoryToolResultCache, Ports, ToolContext, ToolRequest
from consumers.chain_rules import chain_rule_id, wallet_user
from consumers.chain_rules.app import build_app as chain_rules_app
from consumers.orchestrator.app import ServiceChain
from consumers.projector.app import build_app as projector_app
from consumers.rule_engine.app import GROUP_RULES
from consumers.rule_engine.app import build_app as rule_engine_app
from contracts import Build, Chain, DeploymentRecord, compile_contracts, deploy_proxy
from infra.kafka import EventPublisher
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from infra.stack import RunningAnvil
from readmodels import READ_MODELS, ReadModels
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    CHAIN_LOGS,
    MARKET_TICKS,
    CloudEvent,
    MarketTickV1,
    codec_for,
)
from services import Services, deployments
from tests._kafka import eventually, group_caught_up, read_topic, running
from tests.integration._chain_listener import add_watch, listener_settings, listening, published

ABOVE = 0
CROSSES_BELOW = 3


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory, anvil: RunningAnvil) -> Build:
    return compile_contracts(tmp_path_factory.mktemp("build-info"))


@pytest.fixture
def chain_settings(settings: Settings, anvil: RunningAnvil) -> Settings:
    """The test's settings on this anvil, signing as its dev account 0 (the platform)."""
    return listener_settings(settings, anvil.url, eth_private_key=anvil.account(0)[1])


@pytest.fixture
async def registry(chain_settings: Settings, anvil: RunningAnvil, build: Build) -> DeploymentRecord:
    """AlertRegistry deployed behind its proxy, its record kept where `ixo contracts` keeps it."""

    def deploy() -> DeploymentRecord:
        record = deploy_proxy(Chain(anvil.url, anvil.account(0)[1]), build)
        deployments(chain_settings).save(record, build.build_info)
        return record

    return await asyncio.to_thread(deploy)


@pytest.fixture
async def db(chain_settings: Settings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client = mongo_client(chain_settings)
    try:
        yield await open_database(chain_settings, client, documents=READ_MODELS)
    finally:
        await client.close()


class Wallet:
    """A user's wallet (anvil dev account ``index``) calling the registry directly."""

    def __init__(self, anvil: RunningAnvil, build: Build, registry: str, index: int) -> None:
        self.w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 60}))
        self.account = Account.from_key(anvil.account(index)[1].get_secret_value())
        abi = build.artifact("AlertRegistry").abi
        self.contract = self.w3.eth.contract(address=Web3.to_checksum_address(registry), abi=abi)

    @property
    def user(self) -> str:
        return wallet_user(self.account.address)

    def _send(self, call: Any) -> Any:
        tx = call.build_transaction(
            {
                "from": self.account.address,
                "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
            }
        )
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        assert receipt["status"] == 1
        return receipt

    async def register(self, symbol: str, kind: int, price: str) -> int:
        threshold = int(Decimal(price) * 10**8)
        receipt = await asyncio.to_thread(
            self._send, self.contract.functions.registerAlert(symbol, kind, threshold)
        )
        (event,) = self.contract.events.AlertRegistered().process_receipt(receipt)
        return int(event["args"]["id"])

    async def cancel(self, alert_id: int) -> None:
        await asyncio.to_thread(self._send, self.contract.functions.cancelAlert(alert_id))


def tick(price: str, seconds: int) -> CloudEvent[MarketTickV1]:
    at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    data = MarketTickV1(symbol="BTCUSDT", price=Decimal(price), venue="test", ts=at)
    return CloudEvent.new(data, source="/tests/chain-rules")


async def matches(settings: Settings) -> list[Any]:
    codec = codec_for(ALERT_MATCHES)
    return [codec.decode(r.value or b"").data for r in await read_topic(settings, ALERT_MATCHES)]


async def test_an_onchain_alert_becomes_a_rule_that_fires(
    chain_settings: Settings,
    anvil: RunningAnvil,
    build: Build,
    registry: DeploymentRecord,
    publisher: EventPublisher,
    db: AsyncDatabase[dict[str, Any]],
    redis: Redis,
) -> None:
    settings = chain_settings
    reads = ReadModels(db)
    abi = build.artifact("AlertRegistry").abi
    await add_watch(
        publisher, registry.chain_id, registry.proxy, abi=abi, from_block=registry.block_number
    )
    alice = Wallet(anvil, build, registry.proxy, 3)
    platform = Wallet(anvil, build, registry.proxy, 0)

    def rule_of(alert_id: int) -> str:
        return chain_rule_id(registry.chain_id, registry.proxy, alert_id)

    async def live(rule_id: str) -> Any:
        found = await reads.rule(rule_id)
        return found if found is not None and not found.deleted else None

    async def gone(rule_id: str) -> bool:
        found = await reads.rule(rule_id)
        return found is not None and found.deleted

    async with (
        running(projector_app(settings)),
        running(rule_engine_app(settings)),
        running(chain_rules_app(settings)),
        listening(settings),
    ):
        first = await alice.register("BTCUSDT", ABOVE, "65000.5")
        rule = await eventually(lambda: live(rule_of(first)), timeout=60)
        assert rule.user_id == alice.user
        assert rule.symbol == "BTCUSDT"
        assert rule.condition["kind"] == "above"
        assert Decimal(rule.condition["threshold"]) == Decimal("65000.5")

        # the rule engine has the rule: a tick beyond the threshold fires it
        await eventually(lambda: group_caught_up(settings, ALERT_RULES, GROUP_RULES))
        for event in (tick("64000", 0), tick("65100", 1)):
            await publisher.publish(event, MARKET_TICKS)

        async def fired() -> list[Any]:
            return [m for m in await matches(settings) if m.rule_id == rule_of(first)]

        (match,) = await eventually(fired, timeout=60)
        assert match.user_id == alice.user
        assert match.price == Decimal("65100")

        # the platform's own registration is the agent tool's business: no wallet rule
        own = await platform.register("ETHUSDT", ABOVE, "4000")
        # a second alert of alice, then her cancel of the first
        second = await alice.register("BTCUSDT", CROSSES_BELOW, "60000")
        await eventually(lambda: live(rule_of(second)), timeout=60)
        await alice.cancel(first)
        await eventually(lambda: gone(rule_of(first)), timeout=60)
        assert await reads.rule(rule_of(own)) is None  # processed before the cancel, skipped

        # the agent's chain_events reads the chain_logs projection
        shared = ServiceChain(
            settings, Services.build(publisher, db, settings, source="/t"), publisher, redis
        )
        ctx = ToolContext("req-events", "s1", "bob", "web", 0, Ports(extras={"chain": shared}))
        ask = ToolRequest(
            index=0,
            call_id="e1",
            name="chain_events",
            arguments=json.dumps({"address": registry.proxy, "event": "AlertRegistered"}),
        )

        async def three() -> Any:
            done = await TOOLS.execute(ask, ctx, MemoryToolResultCache(), idempotency_ttl_s=60)
            return done if done.result and done.result["count"] == 3 else None

        listed = (await eventually(three, timeout=60)).result
        # uint256 arguments are decimal strings (the listener's format)
        assert [e["args"]["id"] for e in listed["events"]] == [str(second), str(own), str(first)]
        assert listed["events"][2]["args"]["symbol"] == "BTCUSDT"

        # a reorg retracts the second registration (the listener's removed=true) ...
        observed = [p for p in await published(settings, registry.proxy) if not p.data.removed]
        registered = next(
            p
            for p in observed
            if p.data.event == "AlertRegistered" and p.data.args["id"] == str(second)
        )
        retraction = registered.data.model_copy(update={"removed": True})
        await publisher.publish(
            CloudEvent.new(retraction, source="/tests/reorg", event_id=f"{registered.id}-removed"),
            CHAIN_LOGS,
        )
        await eventually(lambda: gone(rule_of(second)), timeout=60)
        # ... and a reorg that retracts the cancel restores the first rule
        cancel = next(p for p in observed if p.data.event == "AlertCancelled")
        undo = cancel.data.model_copy(update={"removed": True})
        await publisher.publish(
            CloudEvent.new(undo, source="/tests/reorg", event_id=f"{cancel.id}-removed"),
            CHAIN_LOGS,
        )
        restored = await eventually(lambda: live(rule_of(first)), timeout=60)
        assert restored.user_id == alice.user

    # every rule event of this client, once per event id (redelivery-safe ids)
    records = await read_topic(settings, ALERT_RULES)
    ids = [json.loads(r.value or b"{}")["id"] for r in records]
    assert len(ids) == len(set(ids))


async def test_the_agent_registers_an_onchain_alert_once_per_call(
    chain_settings: Settings,
    registry: DeploymentRecord,
    publisher: EventPublisher,
    redis: Redis,
    db: AsyncDatabase[dict[str, Any]],
    anvil: RunningAnvil,
) -> None:
    settings = chain_settings
    services = Services.build(publisher, db, settings, source="/tests/agent")
    shared = ServiceChain(settings, services, publisher, redis)
    request = CloudEvent.new(
        MarketTickV1(symbol="BTCUSDT", price=Decimal(1), venue="t", ts=datetime.now(UTC)),
        source="/tests",
    )
    ports = Ports(extras={"chain": shared.bound(request)})
    ctx = ToolContext(
        request_id="req-onchain-1",
        session_id="s1",
        user_id="alice",
        channel="web",
        call_index=0,
        ports=ports,
    )
    call = ToolRequest(
        index=0,
        call_id="c1",
        name="register_onchain_alert",
        arguments=json.dumps({"symbol": "eth", "condition": "below", "threshold": "2500.25"}),
    )
    platform = anvil.account(0)[0]
    before = await asyncio.to_thread(
        lambda: Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction_count(
            Web3.to_checksum_address(platform)
        )
    )
    try:
        async with running(projector_app(settings)):
            first = await TOOLS.execute(call, ctx, MemoryToolResultCache(), idempotency_ttl_s=60)
            # the same call redelivered to a fresh process (no cached result): no second send
            again = await TOOLS.execute(call, ctx, MemoryToolResultCache(), idempotency_ttl_s=60)
            assert first.error is None, first.error
            assert again.result == first.result
            result = first.result
            assert result["symbol"] == "ETHUSDT"
            assert result["threshold"] == "2500.25"
            assert result["registry"] == registry.proxy.lower()
            after = await asyncio.to_thread(
                lambda: Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction_count(
                    Web3.to_checksum_address(platform)
                )
            )
            assert after == before + 1
            rule_id = chain_rule_id(registry.chain_id, registry.proxy, result["alert_id"])
            assert result["rule_id"] == rule_id

            async def saved() -> Any:
                return await services.rules.get(rule_id)

            rule = await eventually(saved)
            assert rule.user_id == "alice"
            assert rule.condition["kind"] == "below"

            bad = ToolRequest(
                index=0,
                call_id="c2",
                name="register_onchain_alert",
                arguments=json.dumps(
                    {"symbol": "BTC", "condition": "above", "threshold": "1.123456789"}
                ),
            )
            refused = await TOOLS.execute(
                bad,
                ToolContext("req-onchain-2", "s1", "alice", "web", 0, ports),
                MemoryToolResultCache(),
                idempotency_ttl_s=60,
            )
            assert refused.error is not None
            assert "8 decimals" in refused.error
    finally:
        await shared.aclose()
