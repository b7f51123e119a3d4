"""``ixo schedules add|list|rm``: users' scheduled tasks (agent prompts and alert digests),
changed only through events on ``ixo.schedules`` and listed from the ``schedules`` read model."""

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
from producers.schedules import (
    ScheduleDraft,
    ScheduleReceipt,
    ScheduleService,
    parse_schedule,
    schedule_view,
)

SOURCE = "/cli"

schedules_app = typer.Typer(
    help="Scheduled agent prompts and alert digests: add, list, remove.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]


def _documents() -> list[Any]:
    """The read models to bind: the projector's, plus ``Schedule`` if it is not among them."""
    from consumers.projector import READ_MODELS
    from consumers.projector._schedules import Schedule

    return list(dict.fromkeys([*READ_MODELS, Schedule]))


async def _with_service(settings: Settings, work: Any, *, need_read_models: bool) -> Any:
    client = mongo_client(settings) if need_read_models else None
    try:
        if client is not None:
            await init_read_models(settings, client, _documents())
        async with connected_broker(settings, "ixo-cli-schedules") as broker:
            return await work(ScheduleService(EventPublisher(broker, settings), source=SOURCE))
    finally:
        if client is not None:
            await client.close()


def _print_receipt(receipt: ScheduleReceipt, json_: bool) -> None:
    if json_:
        out.emit_json(receipt.as_dict())
        return
    out.result(
        f"{receipt.event.type} {receipt.as_dict()['schedule_id']} -> "
        f"{receipt.topic}[{receipt.partition}]@{receipt.offset}"
    )


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
    settings = load_settings()

    async def work(service: ScheduleService) -> ScheduleReceipt:
        return await service.create(draft)

    receipt = asyncio.run(_with_service(settings, work, need_read_models=schedule_id is not None))
    _print_receipt(receipt, json_)


@schedules_app.command("list")
def schedules_list(
    user: Annotated[
        str | None, typer.Option("--user", help="only this user's schedules", show_default=False)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Live schedules from the ``schedules`` read model, with their next run."""
    settings = load_settings()

    async def work() -> list[dict[str, Any]]:
        client = mongo_client(settings)
        try:
            await init_read_models(settings, client, _documents())
            from consumers.projector._schedules import Schedule

            query = Schedule.find(Schedule.deleted == False)  # noqa: E712 - a query expression
            if user is not None:
                query = query.find(Schedule.user_id == user)
            found = await query.to_list()
            found.sort(key=lambda s: (s.created_at is None, s.created_at, s.schedule_id))
            return [schedule_view(s) for s in found]
        finally:
            await client.close()

    rows = asyncio.run(work())
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
    settings = load_settings()

    async def work(service: ScheduleService) -> ScheduleReceipt:
        return await service.delete(schedule_id, user_id=user)

    receipt = asyncio.run(_with_service(settings, work, need_read_models=True))
    _print_receipt(receipt, json_)
