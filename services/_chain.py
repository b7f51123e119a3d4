"""The chain, for every client: the ``chain_logs`` read model, on-chain alerts registered from
the platform's wallet, and the rules the chain-rules consumer keeps for wallets.

- :class:`ChainLogService` reads observed logs (the gateway's ``GET /v1/chain/logs``, the CLI's
  ``ixo chain-logs``, the agent's ``chain_events``).
- :class:`ChainService` registers an alert on our AlertRegistry through the
  :class:`contracts.TransactionService` (idempotent by the caller's key) and makes the matching
  rule for the user who asked, with the rule id the chain-rules consumer would give it
  (:func:`consumers.chain_rules.chain_rule_id`), through :class:`RuleService`. It also deletes
  the rules of cancelled on-chain alerts (:meth:`ChainService.forget_rule`): the chain client
  knows the rule's definition from its ledger, so it need not wait for the rules projection.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from redis.asyncio import Redis

from consumers.chain_rules import KINDS, REGISTERED, RuleDefinition, chain_rule_id
from contracts import (
    DeploymentStore,
    FeePolicy,
    JsonRpc,
    RedisTxStore,
    TransactionReverted,
    TransactionService,
    TxOutcome,
    TxRequest,
    load_build,
)
from infra.redis import key_prefix
from infra.settings import Settings
from infra.stack import LocalStack, anvil_dev_account
from readmodels import ChainLog, ReadModels
from schemas import (
    ALERT_RULES,
    AlertRuleDeletedV1,
    AnyEvent,
    Condition,
    ConditionKind,
    PermanentError,
    normalise_symbol,
)
from services._commands import Commands, Publisher, Receipt, parse_input
from services._rules import RuleDraft, RuleService

MAX_CHAIN_LOGS: Final = 500
MAX_BLOCK: Final = 2**63 - 1
"""The highest block number a query may name: the read model stores block numbers as BSON
64-bit integers (a larger one cannot even be sent to the database)."""
REGISTRY: Final = "AlertRegistry"
THRESHOLD_DECIMALS: Final = 8
"""``AlertRegistry.THRESHOLD_DECIMALS``: thresholds are integers of 1e-8."""
MAX_SYMBOL_BYTES: Final = 32
NAMESPACE: Final = uuid.UUID("9d3e5f71-2a4c-5b8e-8f1d-6c0a2e4b7d95")


class OnchainUnavailable(PermanentError):  # noqa: N818 - reads as what happened
    """No signing key, or no AlertRegistry deployed on this chain."""


class ChainLogsQuery(BaseModel):
    """What a client asks of the ``chain_logs`` read model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")
    event: str | None = Field(default=None, min_length=1, max_length=200)
    since_block: int | None = Field(default=None, ge=0, le=MAX_BLOCK)
    include_removed: bool = False
    limit: int = Field(default=100, ge=1, le=MAX_CHAIN_LOGS)


def chain_log_view(log: ChainLog) -> dict[str, Any]:
    """The public view of an observed log (JSON-ready)."""
    view: dict[str, Any] = log.model_dump(mode="json", exclude={"id", "order", "event_id"})
    return view


class ChainLogService:
    """Queries of the ``chain_logs`` read model."""

    def __init__(self, reads: ReadModels) -> None:
        self._reads = reads

    async def logs(self, query: ChainLogsQuery | dict[str, Any]) -> list[ChainLog]:
        """Observed logs, newest block first; :class:`InvalidEvent` names a bad field."""
        if not isinstance(query, ChainLogsQuery):
            query = parse_input(ChainLogsQuery, query)
        return await self._reads.chain_logs(
            address=query.address,
            event=query.event,
            since_block=query.since_block,
            include_removed=query.include_removed,
            limit=query.limit,
        )


class OnchainAlertDraft(BaseModel):
    """An alert to register on chain: the kinds the registry knows, a positive threshold with at
    most 8 decimals, a symbol as people type it (``btc`` -> ``BTCUSDT``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1, max_length=30)
    condition: ConditionKind
    threshold: Decimal = Field(gt=0, allow_inf_nan=False)

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        symbol = normalise_symbol(value)
        if len(symbol) > MAX_SYMBOL_BYTES:
            msg = f"at most {MAX_SYMBOL_BYTES} characters on chain"
            raise ValueError(msg)
        return symbol

    @field_validator("condition")
    @classmethod
    def _kind(cls, value: ConditionKind) -> ConditionKind:
        if value not in KINDS:
            msg = f"the registry knows {', '.join(KINDS)}, not {value}"
            raise ValueError(msg)
        return value

    @field_validator("threshold")
    @classmethod
    def _decimals(cls, value: Decimal) -> Decimal:
        scaled = value * (Decimal(10) ** THRESHOLD_DECIMALS)
        if scaled != scaled.to_integral_value():
            msg = f"at most {THRESHOLD_DECIMALS} decimals on chain"
            raise ValueError(msg)
        return value

    @property
    def raw_threshold(self) -> int:
        return int(self.threshold * (Decimal(10) ** THRESHOLD_DECIMALS))


class OnchainAlert(BaseModel):
    """An alert registered on chain, and the rule made for it."""

    model_config = ConfigDict(frozen=True)

    alert_id: int
    rule_id: str
    chain_id: int
    registry: str
    tx_hash: str
    block_number: int
    symbol: str
    condition: ConditionKind
    threshold: Decimal


@dataclass(frozen=True)
class Registry:
    """Our AlertRegistry on one chain: its proxy and ABI (from the deployment record)."""

    chain_id: int
    address: str
    abi: tuple[dict[str, Any], ...]


def signing_key(settings: Settings) -> SecretStr | None:
    """``IXO_ETH_PRIVATE_KEY``, or the local stack's anvil dev account when the RPC URL is that
    anvil (as ``ixo contracts`` does); None when neither."""
    if settings.eth_private_key.get_secret_value().strip():
        return settings.eth_private_key
    local_url = LocalStack(settings.state_dir).env().get("IXO_ETH_RPC_URL")
    if local_url is not None and settings.eth_rpc_url.rstrip("/") == local_url:
        dev = anvil_dev_account(settings.state_dir)
        if dev is not None:
            return dev[1]
    return None


def deployments(settings: Settings) -> DeploymentStore:
    """The deployment records ``ixo contracts deploy`` keeps."""
    return DeploymentStore(Path(settings.state_dir) / "contracts" / "deployments")


def find_registry(store: DeploymentStore, chain_id: int, name: str = REGISTRY) -> Registry | None:
    """The registry deployed as ``name`` on ``chain_id``, with the ABI it runs now."""
    record = store.load(chain_id, name)
    if record is None:
        return None
    path = store.build_info_path(chain_id, record.current.source_hash)
    build = load_build(path, cached=True, seconds=0.0)
    abi = tuple(build.artifact(record.contract).abi)
    return Registry(chain_id=chain_id, address=record.proxy.lower(), abi=abi)


def _register_call(draft: OnchainAlertDraft, abi: tuple[dict[str, Any], ...]) -> str:
    from eth_abi.abi import encode
    from eth_utils.abi import function_abi_to_4byte_selector

    item = next(
        (i for i in abi if i.get("type") == "function" and i.get("name") == "registerAlert"),
        None,
    )
    if item is None:
        msg = "the registry's ABI has no registerAlert"
        raise OnchainUnavailable(msg)
    selector = function_abi_to_4byte_selector(cast(Any, item))
    args = encode(
        ["string", "uint8", "uint256"],
        [draft.symbol, KINDS.index(draft.condition), draft.raw_threshold],
    )
    return "0x" + (selector + args).hex()


def _registered_topic(abi: tuple[dict[str, Any], ...]) -> str:
    from eth_utils.abi import event_abi_to_log_topic

    item = next(i for i in abi if i.get("type") == "event" and i.get("name") == REGISTERED)
    return "0x" + bytes(event_abi_to_log_topic(cast(Any, item))).hex()


class ChainService:
    """On-chain alerts of the platform's wallet, and the rules of on-chain alerts."""

    def __init__(
        self,
        publisher: Publisher,
        rules: RuleService,
        *,
        source: str,
        transactions: TransactionService | None = None,
        registry: Registry | None = None,
    ) -> None:
        self._rules = rules
        self._transactions = transactions
        self._registry = registry
        self._commands = Commands(publisher, source=source, topic=ALERT_RULES, id_field="rule_id")

    @property
    def registry(self) -> Registry | None:
        return self._registry

    async def register_alert(
        self,
        user_id: str,
        draft: OnchainAlertDraft | dict[str, Any],
        *,
        idempotency_key: str,
        causation: AnyEvent | None = None,
    ) -> OnchainAlert:
        """Register the alert on the registry from the platform's wallet (one transaction per
        ``idempotency_key``, however often called) and make the rule for ``user_id``."""
        if not isinstance(draft, OnchainAlertDraft):
            draft = parse_input(OnchainAlertDraft, draft)
        if self._transactions is None or self._registry is None:
            msg = "on-chain alerts are not available: no signing key or no AlertRegistry deployed"
            raise OnchainUnavailable(msg)
        registry = self._registry
        outcome = await self._transactions.send(
            TxRequest(
                key=f"onchain-alert:{idempotency_key}",
                to=registry.address,
                data=_register_call(draft, registry.abi),
                what=f"registerAlert({draft.symbol}, {draft.condition}, {draft.threshold})",
                abi=registry.abi,
                correlation_id=None if causation is None else causation.correlationid,
            )
        )
        if outcome.status != "confirmed":
            msg = f"registering the alert reverted (tx {outcome.tx_hash})"
            raise TransactionReverted(msg)
        alert_id = self._alert_id(outcome)
        rule_id = chain_rule_id(registry.chain_id, registry.address, alert_id)
        await self._save_rule(user_id, draft, rule_id, causation)
        return OnchainAlert(
            alert_id=alert_id,
            rule_id=rule_id,
            chain_id=registry.chain_id,
            registry=registry.address,
            tx_hash=outcome.tx_hash,
            block_number=outcome.block_number,
            symbol=draft.symbol,
            condition=draft.condition,
            threshold=draft.threshold,
        )

    def _alert_id(self, outcome: TxOutcome) -> int:
        assert self._registry is not None
        topic = _registered_topic(self._registry.abi)
        for log in outcome.logs:
            if log.address == self._registry.address and log.topics and log.topics[0] == topic:
                return int(log.topics[1], 16)
        msg = f"the transaction {outcome.tx_hash} emitted no AlertRegistered"
        raise TransactionReverted(msg)

    async def _save_rule(
        self, user_id: str, draft: OnchainAlertDraft, rule_id: str, causation: AnyEvent | None
    ) -> None:
        existing = await self._rules.get(rule_id)
        if existing is not None and existing.user_id == user_id:
            return  # made by this call before a crash or a redelivery
        await self._rules.save(
            RuleDraft(
                user_id=user_id,
                symbol=draft.symbol,
                condition=Condition(kind=draft.condition, threshold=draft.threshold),
                rule_id=rule_id,
            ),
            event_id=str(uuid.uuid5(NAMESPACE, f"{rule_id}:created")),
            causation=causation,
        )

    async def save_rule(self, definition: RuleDefinition, *, event_id: str) -> Receipt:
        """The rule of an on-chain alert (the chain-rules consumer's create)."""
        return await self._rules.save(
            RuleDraft(
                user_id=definition.user_id,
                symbol=definition.symbol,
                condition=Condition(kind=definition.kind, threshold=definition.threshold),
                rule_id=definition.rule_id,
            ),
            event_id=event_id,
        )

    async def forget_rule(self, definition: RuleDefinition, *, event_id: str) -> Receipt:
        """Delete the rule of an on-chain alert that was cancelled (or whose registration a
        reorg retracted), from its definition: no need to wait for the rules projection."""
        data = AlertRuleDeletedV1(
            rule_id=definition.rule_id,
            user_id=definition.user_id,
            symbol=normalise_symbol(definition.symbol),
        )
        return await self._commands.publish(data, event_id=event_id)

    async def aclose(self) -> None:
        if self._transactions is not None:
            await self._transactions.aclose()


async def connect_chain(
    settings: Settings,
    publisher: Publisher,
    rules: RuleService,
    redis: Redis,
    *,
    source: str,
    registry_name: str = REGISTRY,
) -> ChainService:
    """The chain service of these settings: the transaction service signing with
    :func:`signing_key` on ``IXO_ETH_RPC_URL`` (transactions remembered in Redis) and the
    registry deployed as ``registry_name`` on that chain. Without a key, or without a
    deployment, on-chain alerts answer :class:`OnchainUnavailable`. A node that does not
    answer is ``ChainUnavailable`` (transient)."""
    key = signing_key(settings)
    if key is None:
        return ChainService(publisher, rules, source=source)
    rpc = JsonRpc(settings.eth_rpc_url, timeout_s=settings.chain_rpc_timeout_s)
    try:
        chain_id = await rpc.chain_id()
        registry = find_registry(deployments(settings), chain_id, registry_name)
    except BaseException:
        await rpc.aclose()
        raise
    cap = settings.chain_max_fee_gwei
    transactions = TransactionService(
        rpc,
        key,
        RedisTxStore(redis, key_prefix(settings, "chain")),
        publisher,
        source=source,
        fees=FeePolicy(max_fee_cap_wei=None if cap is None else int(cap * 10**9)),
        receipt_timeout_s=settings.chain_tx_timeout_s,
    )
    return ChainService(
        publisher, rules, source=source, transactions=transactions, registry=registry
    )
