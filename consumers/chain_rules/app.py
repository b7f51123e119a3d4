"""FastStream wiring of the chain-rules consumer (``ixo run chain-rules``, group
``ixo.chain-rules``): logs of our AlertRegistry on ``ixo.chain.logs`` become alert rules through
the service layer (:class:`services.ChainService` over :class:`services.RuleService`).

Only logs of a registry in the deployment records (``ixo contracts deploy``, under the state
dir) count: any other contract may emit an ``AlertRegistered`` and must not make rules. Event
ids derive from the log's event id and the action, so a redelivered log publishes duplicates
consumers drop; the ledger (Redis) remembers each rule's definition, to delete it without
waiting for the rules projection and to restore it when a reorg retracts its cancel.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Final

from faststream import FastStream
from redis.asyncio import Redis

from consumers.chain_rules._core import RuleCommand, RuleLedger, plan
from consumers.chain_rules._redis import RedisRuleLedger
from contracts import DeploymentStore
from infra.kafka import Delivery, EventPublisher, make_broker, subscribe
from infra.mongo import mongo_client, open_database
from infra.redis import key_prefix, redis_client
from infra.settings import Settings, get_settings
from readmodels import ReadModels
from schemas import CHAIN_LOGS, ChainLogObservedV1, TransientError
from services import ChainService, RuleNotFound, RuleService, deployments, signing_key

SOURCE: Final = "/consumers/chain-rules"
GROUP: Final = "ixo.chain-rules"
NAMESPACE: Final = uuid.UUID("7e4b2c90-5d1f-5a3e-b6c8-2f0d9e1a4b76")
RELOAD_S: Final = 10.0
"""At most this often the deployment records are read again for an unknown address."""

log = logging.getLogger(__name__)


class Registries:
    """Our AlertRegistry proxies, from the deployment records (read again, at most every
    ``RELOAD_S``, when a log comes from an address not among them)."""

    def __init__(self, store: DeploymentStore, *, reload_s: float = RELOAD_S) -> None:
        self._store = store
        self._reload_s = reload_s
        self._known: set[tuple[int, str]] = set()
        self._loaded_at: float | None = None

    def _load(self) -> None:
        self._known = {
            (r.chain_id, r.proxy.lower())
            for r in self._store.records()
            if r.contract.startswith("AlertRegistry")
        }
        self._loaded_at = time.monotonic()

    def known(self, chain_id: int, address: str) -> bool:
        wanted = (chain_id, address.lower())
        if wanted in self._known:
            return True
        if self._loaded_at is None or time.monotonic() - self._loaded_at >= self._reload_s:
            self._load()
        return wanted in self._known


class ChainRules:
    """The handler: plan each log, then apply the command through the service layer."""

    def __init__(
        self,
        chain: ChainService,
        ledger: RuleLedger,
        registries: Registries,
        *,
        platform_wallets: frozenset[str],
    ) -> None:
        self._chain = chain
        self._ledger = ledger
        self._registries = registries
        self._platform = platform_wallets

    async def handle(self, batch: Sequence[Delivery]) -> None:
        for delivery in batch:  # in order: a cancel follows its registration
            data = delivery.event.data
            if not isinstance(data, ChainLogObservedV1):
                continue
            if not self._registries.known(data.chain_id, data.address):
                continue
            command = plan(data, platform_wallets=self._platform)
            if command is not None:
                await self._apply(command, delivery)

    async def _apply(self, command: RuleCommand, delivery: Delivery) -> None:
        event_id = str(uuid.uuid5(NAMESPACE, f"{delivery.event.id}:{command.action}"))
        where = {"rule_id": command.rule_id, "event_id": delivery.event.id}
        if command.action == "save":
            assert command.definition is not None
            await self._ledger.put(command.definition)
            await self._save(command, event_id)
            log.info("on-chain alert -> rule", extra=where)
            return
        definition = await self._ledger.get(command.rule_id)
        if definition is None:
            log.info("no rule of this client for the alert; nothing to %s", command.action)
            return
        if command.action == "delete":
            await self._chain.forget_rule(definition, event_id=event_id)
        else:
            await self._save(RuleCommand("save", command.rule_id, definition), event_id)
        log.info("on-chain alert %s -> rule %s", command.action, command.rule_id, extra=where)

    async def _save(self, command: RuleCommand, event_id: str) -> None:
        assert command.definition is not None
        try:
            await self._chain.save_rule(command.definition, event_id=event_id)
        except RuleNotFound as exc:
            # the rules projection still shows this id as another wallet's (a reorg gave the
            # alert id to another registration): its deletion is on the way
            msg = f"waiting for the rules projection: {exc}"
            raise TransientError(msg) from None


def platform_wallets(settings: Settings) -> frozenset[str]:
    """The platform's own signing address (its alerts' rules are made by the agent's tool)."""
    key = signing_key(settings)
    if key is None:
        return frozenset()
    from eth_account import Account

    return frozenset({str(Account.from_key(key.get_secret_value()).address).lower()})


def build_app(settings: Settings | None = None) -> FastStream:
    """The chain-rules app; ``settings`` default to the environment's. Building contacts
    nothing; MongoDB is checked at startup, before the broker starts."""
    settings = settings or get_settings()
    broker = make_broker(settings, client_id="ixo-chain-rules")
    publisher = EventPublisher(broker, settings)
    mongo = mongo_client(settings)
    database = mongo[settings.mongodb_database]
    redis: Redis = redis_client(settings)
    rules = RuleService(publisher, ReadModels(database), source=SOURCE)
    handler = ChainRules(
        ChainService(publisher, rules, source=SOURCE),
        RedisRuleLedger(redis, key_prefix(settings, "chain-rules")),
        Registries(deployments(settings)),
        platform_wallets=platform_wallets(settings),
    )
    subscribe(broker, settings, CHAIN_LOGS, group=GROUP, handler=handler.handle)

    async def check_database() -> None:
        await open_database(settings, mongo)

    async def close() -> None:
        await redis.aclose()
        await mongo.close()

    return FastStream(broker, on_startup=[check_database], after_shutdown=[close])
