"""The chain as a client: ``AlertRegistered`` / ``AlertCancelled`` logs of our AlertRegistry
become alert-rule commands, a pure function of the log (no broker, no database).

- A wallet is a user: the rule of an alert belongs to ``wallet:<lower-case address>`` (decision
  0153); alerts the platform's own wallet registered (the agent's ``register_onchain_alert``)
  are skipped here, since the tool made the rule for the user who asked.
- Rule ids are deterministic from (chain id, registry address, alert id), so redelivery and
  replays never duplicate a rule.
- A reorg's retraction undoes: a removed ``AlertRegistered`` deletes the rule it created, a
  removed ``AlertCancelled`` restores it (from the ledger of rules this client made).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from schemas import ChainLogObservedV1, ConditionKind, PermanentError

RULE_NAMESPACE: Final = uuid.UUID("c2d6a8e4-1f3b-5a7c-9e0d-4b6f8a2c1e53")
KINDS: Final[tuple[ConditionKind, ...]] = ("above", "below", "crosses_above", "crosses_below")
"""``IAlertRegistry.Kind`` by its index."""
REGISTERED: Final = "AlertRegistered"
CANCELLED: Final = "AlertCancelled"
MAX_DECIMALS: Final = 36


def chain_rule_id(chain_id: int, registry: str, alert_id: int) -> str:
    """The rule id of an on-chain alert: the same alert is always the same rule."""
    name = f"{chain_id}:{registry.lower()}:{alert_id}"
    return f"chain-{uuid.uuid5(RULE_NAMESPACE, name)}"


def wallet_user(address: str) -> str:
    """The user id of a wallet (decision 0153)."""
    return f"wallet:{address.lower()}"


class RuleDefinition(BaseModel):
    """What the chain client asked for: enough to create the rule again or delete it."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    user_id: str
    symbol: str
    kind: ConditionKind
    threshold: Decimal
    alert_id: int
    chain_id: int
    registry: str


@dataclass(frozen=True, slots=True)
class RuleCommand:
    """``save`` the definition, ``delete`` the rule, or ``restore`` it from the ledger."""

    action: Literal["save", "delete", "restore"]
    rule_id: str
    definition: RuleDefinition | None = None


class RuleLedger(Protocol):
    """The definitions of the rules the chain client made (Redis: ``RedisRuleLedger``)."""

    async def get(self, rule_id: str) -> RuleDefinition | None: ...

    async def put(self, definition: RuleDefinition) -> None: ...


def _int(args: dict[str, Any], name: str) -> int:
    """An integer argument (the listener writes wide ones as decimal strings)."""
    value = args.get(name)
    try:
        if isinstance(value, str):
            return int(value, 0)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    except ValueError:
        pass
    msg = f"the log's argument {name!r} is missing or not an integer"
    raise PermanentError(msg)


def _threshold(raw: int, decimals: int) -> Decimal:
    if not 0 <= decimals <= MAX_DECIMALS:
        msg = f"the alert's threshold has {decimals} decimals (at most {MAX_DECIMALS})"
        raise PermanentError(msg)
    try:
        return (Decimal(raw) / (Decimal(10) ** decimals)).normalize()
    except InvalidOperation:
        msg = "the alert's threshold is not a number"
        raise PermanentError(msg) from None


def plan(log: ChainLogObservedV1, *, platform_wallets: frozenset[str]) -> RuleCommand | None:
    """The rule command of one log of a registry (None: nothing to do). A log that claims to be
    an alert but cannot be read is a :class:`PermanentError` (dead-lettered)."""
    if not log.decoded or log.event not in {REGISTERED, CANCELLED}:
        return None
    args = log.args
    owner = str(args.get("owner", "")).lower()
    if owner in platform_wallets:
        return None
    rule_id = chain_rule_id(log.chain_id, log.address, _int(args, "id"))
    if log.event == CANCELLED:
        return RuleCommand("restore" if log.removed else "delete", rule_id)
    if log.removed:
        return RuleCommand("delete", rule_id)
    if not owner.startswith("0x") or len(owner) != 42:
        msg = f"the log's owner {owner!r} is not an address"
        raise PermanentError(msg)
    kind_index = _int(args, "kind")
    if not 0 <= kind_index < len(KINDS):
        msg = f"unknown alert kind {kind_index} (this client knows {', '.join(KINDS)})"
        raise PermanentError(msg)
    symbol = args.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        msg = "the log's argument 'symbol' is missing"
        raise PermanentError(msg)
    definition = RuleDefinition(
        rule_id=rule_id,
        user_id=wallet_user(owner),
        symbol=symbol,
        kind=KINDS[kind_index],
        threshold=_threshold(_int(args, "threshold"), _int(args, "decimals")),
        alert_id=_int(args, "id"),
        chain_id=log.chain_id,
        registry=log.address.lower(),
    )
    return RuleCommand("save", rule_id, definition)
