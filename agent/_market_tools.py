"""The built-in market tools: prices, alert rules and fired alerts, through :class:`PricePort`,
:class:`RulesPort` and (optional) :class:`AlertsPort`. They read projections and publish rule
events via the ports; they never write a read model.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent._errors import ToolError
from agent._tools import ToolContext, tool
from agent._types import AlertView
from schemas import (
    AlertRuleCreatedV1,
    Channel,
    Condition,
    ConditionKind,
    decimal_str,
    normalise_symbol,
)

SYMBOL_HELP = "Symbol or pair, e.g. BTC (meaning BTCUSDT), ETH or BTCUSDT"
MAX_COOLDOWN_S = 7 * 24 * 3600


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SymbolArgs(_Args):
    symbol: str = Field(description=SYMBOL_HELP, min_length=1, max_length=30)

    @field_validator("symbol")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_symbol(value)


class GetPriceArgs(_SymbolArgs):
    pass


class CreateAlertArgs(_SymbolArgs):
    condition: ConditionKind = Field(
        description="above / below: the price is beyond the threshold; crosses_above / "
        "crosses_below: the price crosses it; pct_change: the price moved by `threshold` "
        "percent (negative for a drop) within `window_s` seconds"
    )
    threshold: Decimal = Field(
        description="A price for above/below/crosses_*; a percentage for pct_change (5 = 5%)",
        allow_inf_nan=False,
    )
    window_s: int | None = Field(
        default=None, ge=1, le=MAX_COOLDOWN_S, description="pct_change only: window in seconds"
    )
    cooldown_s: int = Field(
        default=0, ge=0, le=MAX_COOLDOWN_S, description="Minimum seconds between two alerts"
    )
    repeat: bool = Field(default=False, description="Fire again after the cooldown (else once)")
    channels: list[Channel] = Field(
        default_factory=list,
        description="Where to notify (telegram/discord/webhook targets); empty: the chat's own",
    )

    @model_validator(mode="after")
    def _condition(self) -> Self:
        try:
            self.to_condition()
        except ValidationError as exc:
            reason = str(exc.errors(include_url=False)[0]["msg"])
            raise ValueError(reason.removeprefix("Value error, ")) from None
        return self

    def to_condition(self) -> Condition:
        return Condition(kind=self.condition, threshold=self.threshold, window_s=self.window_s)


RECENT_ALERTS = 5
"""How many fired alerts ``list_alerts`` shows, newest first (as many as the bots' ``/alerts``)."""


class ListAlertsArgs(_Args):
    pass


class DeleteAlertArgs(_Args):
    rule_id: str = Field(
        description="The id of the alert to delete (from list_alerts)",
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:@\-]+$",
    )


def rule_summary(rule: Any) -> dict[str, Any]:
    """A rule (``AlertRuleCreatedV1`` or ``RuleView``) as the model and the planner see it."""
    condition: Condition = rule.condition
    out: dict[str, Any] = {
        "rule_id": rule.rule_id,
        "symbol": rule.symbol,
        "condition": condition.kind,
        "threshold": decimal_str(condition.threshold),
    }
    if condition.window_s is not None:
        out["window_s"] = condition.window_s
    if rule.cooldown_s:
        out["cooldown_s"] = rule.cooldown_s
    if rule.repeat:
        out["repeat"] = True
    if rule.channels:
        out["channels"] = [c.model_dump(mode="json") for c in rule.channels]
    status = getattr(rule, "status", None)
    if status:
        out["status"] = status
    return out


@tool(description="Latest traded price of a crypto symbol, with its exchange time.", cache_ttl_s=2)
async def get_price(args: GetPriceArgs, ctx: ToolContext) -> dict[str, str]:
    quote = await ctx.ports.price_port().get_price(args.symbol)
    if quote is None:
        msg = f"no price for {args.symbol} yet (unknown symbol or no tick received)"
        raise ToolError(msg)
    price, ts = quote
    return {"symbol": args.symbol, "price": decimal_str(price), "time": ts.isoformat()}


@tool(
    description="Create a price alert rule for the user. Returns the new rule and its rule_id.",
    side_effect=True,
)
async def create_alert(args: CreateAlertArgs, ctx: ToolContext) -> dict[str, Any]:
    rule = AlertRuleCreatedV1(
        rule_id=ctx.derived_id(),
        user_id=ctx.user_id,
        symbol=args.symbol,
        condition=args.to_condition(),
        channels=tuple(args.channels),
        cooldown_s=args.cooldown_s,
        repeat=args.repeat,
    )
    stored = await ctx.ports.rules_port().create_rule(rule, ctx.idempotency_key)
    return {"created": True, **rule_summary(stored)}


def alert_summary(alert: AlertView) -> dict[str, Any]:
    """A fired alert as the model and the planner see it."""
    return {
        "match_id": alert.match_id,
        "rule_id": alert.rule_id,
        "symbol": alert.symbol,
        "price": alert.price,
        "triggered_at": alert.triggered_at.isoformat(),
    }


@tool(description="List the user's alert rules and the alerts that fired lately.")
async def list_alerts(args: ListAlertsArgs, ctx: ToolContext) -> dict[str, Any]:
    del args
    rules = await ctx.ports.rules_port().list_rules(ctx.user_id)
    out: dict[str, Any] = {"count": len(rules), "alerts": [rule_summary(r) for r in rules]}
    history = ctx.ports.alerts
    if history is not None:  # without it (a client that has no alert history): rules only
        fired = await history.recent_alerts(ctx.user_id, RECENT_ALERTS)
        out["fired"] = [alert_summary(a) for a in fired]
    return out


@tool(description="Delete one of the user's alert rules by its rule_id.", side_effect=True)
async def delete_alert(args: DeleteAlertArgs, ctx: ToolContext) -> dict[str, Any]:
    if not await ctx.ports.rules_port().delete_rule(ctx.user_id, args.rule_id):
        msg = f"you have no alert {args.rule_id}"
        raise ToolError(msg)
    return {"deleted": args.rule_id}
