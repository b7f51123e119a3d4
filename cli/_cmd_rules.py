"""``ixo rules add|list|rm``: price-alert rules, changed only through events on
``ixo.alerts.rules`` and listed from the ``rules`` read model."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from cli import _output as out
from cli._config import load_settings
from cli._errors import UsageError
from cli._services import call, cli_services, print_receipt
from cli._times import parse_since
from services import RuleDraft, Services, parse_draft, rule_view

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
            "symbol": symbol,
            "condition": {"kind": kind, "threshold": threshold, "window_s": window},
            "channels": _channels(channel or []),
            "cooldown_s": cooldown,
            "repeat": repeat,
            "rule_id": rule_id,
        }
    )
    receipt = call("ixo-cli-rules", lambda svc: svc.rules.save(draft, trusted_chats=None))
    print_receipt(receipt, json_)


@rules_app.command("list")
def rules_list(
    user: Annotated[
        str | None, typer.Option("--user", help="only this user's rules", show_default=False)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Live rules from the ``rules`` read model."""

    async def work(svc: Services) -> list[dict[str, Any]]:
        return [rule_view(r) for r in await svc.rules.list(user)]

    rows = call("ixo-cli-rules", work)
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
    receipt = call("ixo-cli-rules", lambda svc: svc.rules.delete(rule_id, user_id=user))
    print_receipt(receipt, json_)


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
    start = parse_since(since)
    end = parse_since(until) if until else None
    settings = load_settings()
    rule: RuleDraft | str
    if rule_id is not None:
        if symbol is not None:
            msg = "give either --id RULE_ID or a draft (SYMBOL KIND THRESHOLD), not both"
            raise UsageError(msg)
        rule = rule_id
    else:
        if symbol is None or kind is None or threshold is None:
            msg = "give --id RULE_ID or a draft rule: SYMBOL KIND THRESHOLD"
            raise UsageError(msg)
        rule = parse_draft(
            {
                "user_id": "backtest",
                "symbol": symbol,
                "condition": {"kind": kind, "threshold": threshold, "window_s": window},
                "cooldown_s": cooldown,
                "repeat": repeat,
            }
        )

    async def work() -> list[Any]:
        async with cli_services(settings, "ixo-cli-rules") as svc:
            return await svc.rules.backtest(rule, since=start, until=end)

    matches = asyncio.run(work())
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
