"""The chain tools: ``register_onchain_alert`` (an alert on our AlertRegistry, sent from the
platform's wallet, with the matching rule for the user) and ``chain_events`` (a contract's logs
from the ``chain_logs`` read model), through the :class:`ChainPort` wired as
``Ports(extras={"chain": ...})``.

``register_onchain_alert`` has a side effect: its result is kept under the call's idempotency
key, and the port sends at most one transaction per key (the transaction service remembers it
before sending), so a redelivered or resumed request registers nothing twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent._tools import ToolContext, tool
from agent._types import ChainLogView, ChainPort
from schemas import decimal_str, normalise_symbol

CHAIN_PORT: Final = "chain"
"""The name of the :class:`ChainPort` in ``Ports.extras``."""
MAX_TOOL_EVENTS: Final = 50
ARG_CHARS: Final = 200


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterOnchainAlertArgs(_Args):
    symbol: str = Field(
        min_length=1, max_length=30, description="Symbol or pair, e.g. BTC (meaning BTCUSDT)"
    )
    condition: Literal["above", "below", "crosses_above", "crosses_below"] = Field(
        description="above / below: the price is beyond the threshold; crosses_above / "
        "crosses_below: the price crosses it"
    )
    threshold: Decimal = Field(
        gt=0, allow_inf_nan=False, description="A price, with at most 8 decimals"
    )

    @field_validator("symbol")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_symbol(value)


class ChainEventsArgs(_Args):
    address: str = Field(
        pattern=r"^0x[0-9a-fA-F]{40}$", description="The contract's address (0x + 40 hex digits)"
    )
    event: str | None = Field(
        default=None, min_length=1, max_length=200, description="Only this event, e.g. Transfer"
    )
    since_block: int | None = Field(default=None, ge=0, description="Only from this block on")
    limit: int = Field(default=10, ge=1, le=MAX_TOOL_EVENTS, description="How many, newest first")


def _port(ctx: ToolContext) -> ChainPort:
    port: ChainPort = ctx.ports.extra(CHAIN_PORT)  # noqa: S610 - a port, not Django
    return port


def _short(value: Any) -> Any:
    text = value if isinstance(value, str) else None
    if text is not None and len(text) > ARG_CHARS:
        return text[: ARG_CHARS - 1] + "…"
    return value


def event_summary(log: ChainLogView) -> dict[str, Any]:
    """A log as the model and the planner see it."""
    out: dict[str, Any] = {
        "event": log.event,
        "block": log.block_number,
        "tx_hash": log.tx_hash,
        "log_index": log.log_index,
        "args": {k: _short(v) for k, v in log.args.items()},
    }
    if log.block_time is not None:
        out["time"] = log.block_time.isoformat()
    return out


@tool(
    description="Register a price alert on the blockchain (the AlertRegistry contract), sent "
    "from the platform's wallet, and create the matching alert rule for the user. Returns the "
    "on-chain alert id, the transaction hash and the rule_id.",
    side_effect=True,
)
async def register_onchain_alert(
    args: RegisterOnchainAlertArgs, ctx: ToolContext
) -> dict[str, Any]:
    alert = await _port(ctx).register_alert(
        ctx.user_id, args.symbol, args.condition, args.threshold, ctx.idempotency_key
    )
    return {
        "registered": True,
        "alert_id": alert.alert_id,
        "rule_id": alert.rule_id,
        "symbol": alert.symbol,
        "condition": alert.condition,
        "threshold": decimal_str(alert.threshold),
        "chain_id": alert.chain_id,
        "registry": alert.registry,
        "tx_hash": alert.tx_hash,
        "block": alert.block_number,
    }


@tool(
    description="Recent events (logs) a smart contract emitted, newest first, from the chain "
    "listener's record (events a reorg removed are left out).",
    cache_ttl_s=5,
)
async def chain_events(args: ChainEventsArgs, ctx: ToolContext) -> dict[str, Any]:
    found = await _port(ctx).events(
        args.address, event=args.event, since_block=args.since_block, limit=args.limit
    )
    out: dict[str, Any] = {
        "address": args.address.lower(),
        "count": len(found),
        "events": [event_summary(log) for log in found],
    }
    if args.event is not None:
        out["event"] = args.event
    return out
