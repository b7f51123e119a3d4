"""``ixo ingest PATH... --user USER``: documents (text, Markdown, HTML, PDF) into the knowledge
base, as ``ixo.rag.document.submitted.v1`` through :class:`services.DocumentService`.

A directory is walked recursively for the file types the service understands (others are
skipped, hidden ones too); a file named on the command line is always tried. Each file gets one
line; a refused file is reported and the others are still ingested. Exit 0 when every file was
ingested, 1 when any was refused or unreadable, 2 on bad usage (no such path, no such user).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli import _output as out
from cli._errors import EXIT_FAILURE, UsageError, one_line
from cli._services import call
from schemas import InvalidEvent
from services import MEDIA_TYPES, Services, UnknownUser

CLIENT = "ixo-cli-ingest"


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def expand(paths: list[Path]) -> list[Path]:
    """The files to ingest, in order: each file named, and each supported, non-hidden file
    under each directory named (sorted). A path that does not exist is a usage error."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    found
                    for found in path.rglob("*")
                    if found.is_file()
                    and found.suffix.lower() in MEDIA_TYPES
                    and _visible(found, path)
                )
            )
        elif path.exists():
            files.append(path)
        else:
            msg = f"no such file or directory: {path}"
            raise UsageError(msg)
    unique: dict[Path, Path] = {}
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values())


def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH...", help="files and directories (walked recursively)"),
    ],
    user: Annotated[
        str, typer.Option("--user", help="the user whose documents they are", show_default=False)
    ],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON Lines for programs.")] = False,
) -> None:
    """Ingest documents (text, Markdown, HTML, PDF) into the knowledge base.

    Each file becomes one ixo.rag.document.submitted.v1; its document id comes from the user and
    the file's absolute path, so ingesting the file again replaces the document."""
    files = expand(paths)
    if not files:
        known = ", ".join(sorted(MEDIA_TYPES))
        msg = f"no supported files ({known}) in " + " ".join(map(str, paths))
        raise UsageError(msg)

    async def work(svc: Services) -> int:
        try:
            await svc.identity.require_user(user)
        except UnknownUser as err:
            raise UsageError(str(err)) from None
        failed = 0
        for file in files:
            row: dict[str, Any] = {"path": str(file)}
            try:
                data = _read(file, svc.documents.max_bytes)
                receipt = await svc.documents.submit(user, file.resolve().as_posix(), data)
            except (InvalidEvent, OSError) as err:
                failed += 1
                reason = f"{file}: {err.strerror}" if isinstance(err, OSError) else str(err)
                row |= {"ok": False, "error": one_line(reason)}
            else:
                row |= {"ok": True, **receipt.as_dict()}
            _report(row, json_)
        return failed

    failed = call(CLIENT, work)
    if not json_:
        out.note(f"{len(files) - failed} of {len(files)} ingested")
    if failed:
        raise typer.Exit(EXIT_FAILURE)


def _read(file: Path, max_bytes: int) -> bytes:
    """The file's bytes; one over the limit is refused without reading it all."""
    with file.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        msg = f"{file.resolve().as_posix()}: over the limit of {max_bytes} bytes"
        raise InvalidEvent(msg, kind="invalid_event", field="data")
    return data


def _report(row: dict[str, Any], json_: bool) -> None:
    if json_:
        out.emit_json(row)
    elif row["ok"]:
        out.result(f"ok {row['path']} -> {row['doc_id']} ({row['topic']}@{row['offset']})")
    else:
        out.result(f"refused {row['error']}", style="red")
