"""``ixo rules add|list|rm``: price-alert rules, changed only through events on
``ixo.alerts.rules`` and listed from the ``rules`` read model."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from cli import _output as out
from cli._config import load_settings
from cli._errors import UsageError
from cli._kafka import connected_broker
from infra.kafka import EventPublisher
from infra.mongo import init_read_models, mongo_client
from infra.settings import Settings
from producers.rules import Receipt, RuleDraft, RuleService, parse_draft

SOURCE = "/cli"

rules_app = typer.Typer(help="Price-alert rules: add, list, remove.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
UserOpt = Annotated[str, typer.Option("--user", help="The rule's owner (an ixo user id).")]


def _channels(specs: list[str]) -> list[dict[str, str]]:
    out_: list[dict[str, str]] = []
    for spec in specs:
        kind, sep, target = spec.partition(":")
        if not sep or not target:
            msg = f"--channel {spec!r}: use KIND:TARGET, e.g. telegram:12345 or webhook:https://..."
            raise UsageError(msg)
        out_.append({"kind": kind, "target": target})
    return out_


async def _with_service(settings: Settings, work: Any, *, need_read_models: bool) -> Any:
    client = mongo_client(settings) if need_read_models else None
    try:
        if client is not None:
            await init_read_models(settings, client)
        async with connected_broker(settings, "ixo-cli-rules") as broker:
            return await work(RuleService(EventPublisher(broker, settings), source=SOURCE))
    finally:
        if client is not None:
            await client.close()


def _print_receipt(receipt: Receipt, json_: bool) -> None:
    if json_:
        out.emit_json(receipt.as_dict())
        return
    out.result(
        f"{receipt.event.type} {receipt.as_dict()['rule_id']} -> "
        f"{receipt.topic}[{receipt.partition}]@{receipt.offset}"
    )


@rules_app.command("add")
def rules_add(
    symbol: Annotated[str, typer.Argument(help="e.g. BTCUSDT", show_default=False)],
    kind: Annotated[
        str,
        typer.Argument(
            help="above, below, crosses_above, crosses_below or pct_change", show_default=False
        ),
    ],
    threshold: Annotated[
        str, typer.Argument(help="a price, or a percentage for pct_change", show_default=False)
    ],
    user: UserOpt,
    window: Annotated[
        int | None, typer.Option("--window", help="pct_change window in seconds")
    ] = None,
    cooldown: Annotated[int, typer.Option("--cooldown", help="seconds between firings")] = 0,
    repeat: Annotated[bool, typer.Option("--repeat", help="re-arm after the price moves back")] = (
        False
    ),
    channel: Annotated[
        list[str] | None,
        typer.Option(
            "--channel",
            help="KIND:TARGET (repeatable): telegram:ID, discord:ID, webhook:URL",
            show_default=False,
        ),
    ] = None,
    rule_id: Annotated[
        str | None, typer.Option("--id", help="update this rule of yours", show_default=False)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Create a rule (or update one with --id). Validated before anything is sent."""
    draft: RuleDraft = parse_draft(
        {
            "user_id": user,
            "symbol": symbol.upper(),
            "condition": {"kind": kind, "threshold": threshold, "window_s": window},
            "channels": _channels(channel or []),
            "cooldown_s": cooldown,
            "repeat": repeat,
            "rule_id": rule_id,
        }
    )
    settings = load_settings()

    async def work(service: RuleService) -> Receipt:
        return await service.save(draft)

    receipt = asyncio.run(_with_service(settings, work, need_read_models=rule_id is not None))
    _print_receipt(receipt, json_)


@rules_app.command("list")
def rules_list(
    user: Annotated[
        str | None, typer.Option("--user", help="only this user's rules", show_default=False)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Live rules from the ``rules`` read model."""
    settings = load_settings()

    async def work() -> list[dict[str, Any]]:
        client = mongo_client(settings)
        try:
            await init_read_models(settings, client)
            from consumers.projector import Rule

            query = Rule.find(Rule.deleted == False)  # noqa: E712 - a query expression
            if user is not None:
                query = query.find(Rule.user_id == user)
            rules = await query.sort(Rule.symbol, Rule.rule_id).to_list()
            return [r.model_dump(mode="json", exclude={"order", "id", "deleted"}) for r in rules]
        finally:
            await client.close()

    rows = asyncio.run(work())
    if json_:
        out.emit_json(rows)
        return
    out.table(
        ["rule", "user", "symbol", "condition", "cooldown", "repeat", "channels"],
        [
            [
                r["rule_id"],
                r["user_id"],
                r["symbol"],
                _condition(r["condition"]),
                r["cooldown_s"],
                r["repeat"],
                ", ".join(f"{c['kind']}:{c['target']}" for c in r["channels"]) or "-",
            ]
            for r in rows
        ],
        right=["cooldown"],
    )


def _condition(cond: dict[str, Any] | None) -> str:
    if not cond:
        return "-"
    text = f"{cond['kind']} {cond['threshold']}"
    return text + (f" in {cond['window_s']}s" if cond.get("window_s") else "")


@rules_app.command("rm")
def rules_rm(
    rule_id: Annotated[str, typer.Argument(metavar="RULE_ID", show_default=False)],
    user: Annotated[
        str | None, typer.Option("--user", help="refuse unless the rule is this user's")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Delete a rule (publishes ixo.alert.rule.deleted.v1)."""
    settings = load_settings()

    async def work(service: RuleService) -> Receipt:
        return await service.delete(rule_id, user_id=user)

    receipt = asyncio.run(_with_service(settings, work, need_read_models=True))
    _print_receipt(receipt, json_)


@rules_app.command("backtest")
def rules_backtest(
    since: Annotated[
        str, typer.Option("--since", help="from (ISO time or a duration ago: 2h, 1d)")
    ],
    symbol: Annotated[str | None, typer.Argument(help="a draft rule's symbol")] = None,
    kind: Annotated[str | None, typer.Argument(help="the draft's condition kind")] = None,
    threshold: Annotated[str | None, typer.Argument(help="the draft's threshold")] = None,
    rule_id: Annotated[
        str | None, typer.Option("--id", help="backtest this saved rule", show_default=False)
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="to (default: now)", show_default=False)
    ] = None,
    window: Annotated[int | None, typer.Option("--window", help="pct_change window (s)")] = None,
    cooldown: Annotated[int, typer.Option("--cooldown", help="seconds between firings")] = 0,
    repeat: Annotated[bool, typer.Option("--repeat", help="re-arm after moving back")] = False,
    json_: JsonOpt = False,
) -> None:
    """When a rule (saved with --id, or a draft) would have fired over the tick history, and
    why; the live engine's matching code, nothing published."""
    from cli._times import parse_since
    from consumers.rule_engine.app import backtest_history, saved_rule
    from schemas import AlertRuleCreatedV1

    start = parse_since(since)
    end = parse_since(until) if until else None
    settings = load_settings()
    if rule_id is not None:
        if symbol is not None:
            msg = "give either --id RULE_ID or a draft (SYMBOL KIND THRESHOLD), not both"
            raise UsageError(msg)
        spec = asyncio.run(saved_rule(settings, rule_id))
        if spec is None:
            msg = f"no saved rule {rule_id} (the rule engine has not seen it, or it was deleted)"
            raise UsageError(msg)
        rule: Any = spec
    else:
        if symbol is None or kind is None or threshold is None:
            msg = "give --id RULE_ID or a draft rule: SYMBOL KIND THRESHOLD"
            raise UsageError(msg)
        draft = parse_draft(
            {
                "user_id": "backtest",
                "symbol": symbol.upper(),
                "condition": {"kind": kind, "threshold": threshold, "window_s": window},
                "cooldown_s": cooldown,
                "repeat": repeat,
            }
        )
        rule = AlertRuleCreatedV1.model_validate(
            {**draft.model_dump(exclude={"rule_id"}), "rule_id": "draft"}
        )
    matches = asyncio.run(backtest_history(settings, rule, since=start, until=end))
    if json_:
        out.emit_json([m.model_dump(mode="json") for m in matches])
        return
    out.table(
        ["when", "price", "tick", "why"],
        [
            [
                m.alert.triggered_at.isoformat(),
                m.alert.price,
                f"{m.alert.tick_partition}@{m.alert.tick_offset}",
                m.reason,
            ]
            for m in matches
        ],
    )
    out.note(f"{len(matches)} match(es)")
