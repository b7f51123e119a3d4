"""``ixo replay PROJECTION`` and ``ixo schemas export DIR``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import _output as out
from cli._config import load_settings
from cli._errors import CommandError, UsageError
from cli._kafka import topic_partitions
from cli._times import parse_since
from infra.kafka import offsets_consumer
from infra.settings import Settings
from schemas import export_schemas

if TYPE_CHECKING:
    from datetime import datetime

    from consumers.projector import ReplayResult

Progress = Callable[[int, int], None]

schemas_app = typer.Typer(help="The event contracts as JSON Schema.", no_args_is_help=True)


async def _replay(
    settings: Settings, name: str, since: datetime | None, progress: Progress
) -> ReplayResult:
    from consumers.projector import PROJECTIONS, ProjectionStore, replay
    from infra.mongo import open_database
    from readmodels import READ_MODELS

    projection = PROJECTIONS[name]
    topic = projection.topic.full_name(settings.topic_prefix)
    async with offsets_consumer(settings) as consumer:
        await topic_partitions(consumer, topic, settings)
        store = ProjectionStore(await open_database(settings, documents=READ_MODELS))
        return await replay(store, projection, consumer, topic, since=since, progress=progress)


KNOWLEDGE = "knowledge"


async def _replay_knowledge(
    settings: Settings, *, force: bool, drop_old: bool, progress: Callable[[str, int, int], None]
) -> dict[str, Any]:
    from consumers.embedder.app import (
        ModelUnavailable,
        ReplayFailed,
        StoreUnavailable,
        replay_knowledge,
    )

    try:
        return await replay_knowledge(settings, force=force, drop_old=drop_old, progress=progress)
    except (ReplayFailed, StoreUnavailable, ModelUnavailable) as exc:
        raise CommandError(str(exc)) from None


def _knowledge(settings: Settings, *, force: bool, drop_old: bool, json_: bool) -> None:
    """``ixo replay knowledge``: a new collection from the topics, checked, swapped in."""
    with out.progress_bar("replay knowledge") as bar:
        task = bar.task_ids[0]

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, description=f"knowledge: {phase}", completed=done, total=total)

        result = asyncio.run(
            _replay_knowledge(settings, force=force, drop_old=drop_old, progress=progress)
        )
    if json_:
        out.emit_json(result)
        return
    recall = result.get("recall")
    out.table(
        ["collection", "previous", "model", "records", "items", "points", "recall", "seconds"],
        [
            [
                result["collection"],
                result["previous"] or "-",
                f"{result['model']} ({result['revision']})",
                result["records"],
                result["items"],
                result["points"],
                "-" if recall is None else f"{recall:.3f} ({result['queries']} queries)",
                f"{result['seconds']:.2f}",
            ]
        ],
        right=["records", "items", "points", "seconds"],
    )
    if result["dropped"]:
        out.result(f"dropped {', '.join(result['dropped'])}")


def replay(
    projection: Annotated[
        str,
        typer.Argument(
            help="The projection to rebuild, e.g. prices; or knowledge (the Qdrant collection"
            " the agent searches, rebuilt from the posts and documents topics).",
            show_default=False,
        ),
    ],
    from_beginning: Annotated[
        bool,
        typer.Option(
            "--from-beginning",
            help="Rebuild from every retained record into a fresh collection and swap it in"
            " (the default).",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="Re-apply the records since this time onto the live collection (a repair):"
            " ISO 8601 (naive means UTC) or a duration ago (15m, 2h).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="knowledge: swap in the rebuilt collection even if its recall check fails.",
        ),
    ] = False,
    drop_old: Annotated[
        bool,
        typer.Option(
            "--drop-old",
            help="knowledge: drop the previous collection too (kept by default, the way back).",
        ),
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Rebuild a read model from its topic while the live projector keeps running; or the
    knowledge collection (a new one from the topics, checked, then the alias swapped)."""
    from consumers.projector import PROJECTIONS

    if projection == KNOWLEDGE:
        if since is not None:
            msg = "knowledge is always rebuilt from the beginning (--since does not apply)"
            raise UsageError(msg)
        _knowledge(load_settings(), force=force, drop_old=drop_old, json_=json_)
        return
    if projection not in PROJECTIONS:
        known = ", ".join([*PROJECTIONS, KNOWLEDGE])
        msg = f"unknown projection {projection!r} (known: {known})"
        raise UsageError(msg)
    if force or drop_old:
        msg = "--force and --drop-old apply to knowledge only"
        raise UsageError(msg)
    if from_beginning and since is not None:
        msg = "--from-beginning and --since exclude each other"
        raise UsageError(msg)
    when = parse_since(since) if since is not None else None
    settings = load_settings()
    from infra.runtime import tune_gc

    tune_gc()  # decoding a topic's events: ~1.5x with the services' collector settings
    with out.progress_bar(f"replay {projection}") as bar:
        task = bar.task_ids[0]

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = asyncio.run(_replay(settings, projection, when, progress))
    if json_:
        out.emit_json(
            {
                "projection": result.projection,
                "collection": result.collection,
                "records": result.records,
                "invalid": result.invalid,
                "seconds": round(result.seconds, 3),
                "rate": round(result.rate, 1),
                "swapped": result.swapped,
            }
        )
        return
    out.table(
        ["projection", "collection", "records", "invalid", "seconds", "events/s", "swapped"],
        [
            [
                result.projection,
                result.collection,
                result.records,
                result.invalid,
                f"{result.seconds:.2f}",
                f"{result.rate:,.0f}",
                result.swapped,
            ]
        ],
        right=["records", "invalid", "seconds", "events/s"],
    )


def _export_asyncapi(directory: Path, settings: Settings) -> list[Path]:
    import json

    import yaml

    from services import asyncapi_documents, merge_asyncapi

    document = merge_asyncapi(asyncapi_documents(settings))
    as_json = directory / "asyncapi.json"
    as_json.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    as_yaml = directory / "asyncapi.yaml"
    as_yaml.write_text(yaml.safe_dump(document, sort_keys=True), encoding="utf-8")
    return [as_json, as_yaml]


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="Where to write the schemas (created if missing).",
            file_okay=False,
            show_default=False,
        ),
    ],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Write one JSON Schema per event type, catalogue.json, and the AsyncAPI document of every
    consumer app (asyncapi.json and asyncapi.yaml, generated by FastStream; nothing is
    contacted)."""
    written = export_schemas(directory)
    written += _export_asyncapi(directory, load_settings())
    if json_:
        out.emit_json({"directory": str(directory), "files": [str(p) for p in written]})
        return
    out.result(f"wrote {len(written)} files to {directory}")
