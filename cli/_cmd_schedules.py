"""``ixo schedules add|list|rm``: users' scheduled tasks (agent prompts and alert digests),
changed only through events on ``ixo.schedules`` and listed from the ``schedules`` read model."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import _output as out
from cli._errors import UsageError
from cli._services import call, print_receipt
from services import ScheduleDraft, Services, parse_schedule, schedule_view

schedules_app = typer.Typer(
    help="Scheduled agent prompts and alert digests: add, list, remove.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]


@schedules_app.command("add")
def schedules_add(
    user: Annotated[str, typer.Option("--user", help="The schedule's owner (an ixo user id).")],
    cron: Annotated[
        str | None,
        typer.Option("--cron", help='5-field cron, e.g. "0 8 * * *"', show_default=False),
    ] = None,
    every: Annotated[
        int | None,
        typer.Option("--every", help="period in seconds (at least 60)", show_default=False),
    ] = None,
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone of --cron")] = "UTC",
    channel: Annotated[
        str,
        typer.Option("--channel", help="where results go: web, telegram, discord or cli"),
    ] = "web",
    chat: Annotated[
        str | None,
        typer.Option(
            "--chat", help="chat id (telegram/discord) or web session id", show_default=False
        ),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", help="the agent prompt to run", show_default=False),
    ] = None,
    digest: Annotated[
        bool, typer.Option("--digest", help="a digest of the user's alerts instead of a prompt")
    ] = False,
    schedule_id: Annotated[
        str | None,
        typer.Option("--id", help="replace this schedule of yours", show_default=False),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Create a schedule (or replace one with --id). Validated before anything is sent."""
    if (cron is None) == (every is None):
        msg = "give exactly one of --cron EXPR or --every SECONDS"
        raise UsageError(msg)
    if (prompt is None) == (not digest):
        msg = "give exactly one of --prompt TEXT or --digest"
        raise UsageError(msg)
    draft: ScheduleDraft = parse_schedule(
        {
            "user_id": user,
            "task": "alert_digest" if digest else "prompt",
            "cron": cron,
            "every_s": every,
            "timezone": tz,
            "prompt": prompt,
            "channel": channel,
            "chat_id": chat,
            "schedule_id": schedule_id,
        }
    )
    receipt = call("ixo-cli-schedules", lambda svc: svc.schedules.create(draft, trusted_chats=None))
    print_receipt(receipt, json_)


@schedules_app.command("list")
def schedules_list(
    user: Annotated[
        str | None, typer.Option("--user", help="only this user's schedules", show_default=False)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Live schedules from the ``schedules`` read model, with their next run."""

    async def work(svc: Services) -> list[dict[str, Any]]:
        return [schedule_view(s) for s in await svc.schedules.list(user)]

    rows = call("ixo-cli-schedules", work)
    if json_:
        out.emit_json(rows)
        return
    out.table(
        ["schedule", "user", "when", "task", "to", "next run"],
        [
            [
                r["schedule_id"],
                r["user_id"],
                f"cron {r['cron']} ({r['timezone']})" if r["cron"] else f"every {r['every_s']}s",
                f"prompt: {r['prompt']}" if r["task"] == "prompt" else "alert digest",
                f"{r['channel']}:{r['chat_id']}" if r["chat_id"] else r["channel"],
                r["next_run"],
            ]
            for r in rows
        ],
        wrap=["task"],
    )


@schedules_app.command("rm")
def schedules_rm(
    schedule_id: Annotated[str, typer.Argument(metavar="SCHEDULE_ID", show_default=False)],
    user: Annotated[
        str | None, typer.Option("--user", help="refuse unless the schedule is this user's")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Delete a schedule (publishes ixo.schedule.deleted.v1); it stops firing."""
    receipt = call("ixo-cli-schedules", lambda svc: svc.schedules.delete(schedule_id, user_id=user))
    print_receipt(receipt, json_)
