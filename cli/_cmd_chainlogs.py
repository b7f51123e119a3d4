"""``ixo chain-logs``: the ``chain_logs`` read model (logs of the watched contracts), through
:class:`services.ChainLogService` like every other client. Exit 0 on success (also when nothing
is found), 1 when MongoDB does not answer, 2 on bad input (an address that is not one)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from cli import _output as out
from cli._config import load_settings
from cli._services import cli_services
from services import ChainLogService, chain_log_view

CLIENT = "ixo-cli-chain-logs"
ARGS_SHOWN = 80


def chain_logs(
    address: Annotated[
        str | None,
        typer.Option("--address", help="only this contract's logs (0x...)", show_default=False),
    ] = None,
    event: Annotated[
        str | None,
        typer.Option("--event", help="only this event, e.g. AlertRegistered", show_default=False),
    ] = None,
    since_block: Annotated[
        int | None,
        typer.Option("--since-block", help="only logs in this block or later", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="how many (1-500)")] = 100,
    include_removed: Annotated[
        bool, typer.Option("--include-removed", help="also logs a reorg retracted")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Observed contract logs from the ``chain_logs`` read model, newest block first."""
    settings = load_settings()

    async def work() -> list[dict[str, Any]]:
        async with cli_services(settings, CLIENT) as svc:
            found = await ChainLogService(svc.reads).logs(
                {
                    "address": address,
                    "event": event,
                    "since_block": since_block,
                    "limit": limit,
                    "include_removed": include_removed,
                }
            )
        return [chain_log_view(log) for log in found]

    rows = asyncio.run(work())
    if json_:
        out.emit_json(rows)
        return
    out.table(
        ["block", "log", "address", "event", "args", "removed"],
        [
            [
                r["block_number"],
                r["log_index"],
                r["address"],
                r["event"],
                _args(r["args"]),
                "yes" if r["removed"] else "",
            ]
            for r in rows
        ],
        right=["block", "log"],
        wrap=["args"],
    )
    out.note(f"{len(rows)} log(s)")


def _args(args: dict[str, Any]) -> str:
    text = json.dumps(args, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= ARGS_SHOWN else text[: ARGS_SHOWN - 1] + "…"
