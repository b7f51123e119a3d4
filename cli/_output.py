"""The CLI's output layer: the only place that writes to the terminal.

People get rich tables, coloured lines and progress bars; programs get ``--json``: one JSON
document per command, or JSON Lines for streams. Results go to stdout; progress, notes and
errors go to stderr, so ``ixo ... --json | jq`` sees only results.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from cli._errors import one_line
from cli._records import RecordRow

# Consoles look up sys.stdout / sys.stderr when they print, so test runners can capture them.
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

PIPE_WIDTH = 240
_PREFIX_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan")


def _json_default(value: Any) -> Any:
    return str(value)


def json_text(value: Any) -> str:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def emit_json(value: Any) -> None:
    """One JSON document (or one JSON Lines line) on stdout, flushed at once."""
    write_line(json_text(value))


def write_line(text: str) -> None:
    """A raw line on stdout (used for JSON Lines), flushed so pipes see it at once."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def error(message: str) -> None:
    """The one error line: ``error: <message>`` on stderr."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()


def result(message: str, *, style: str | None = None) -> None:
    """A line meant for people, on stdout (no markup is interpreted in ``message``)."""
    stdout.print(Text(message, style=style or ""))


def note(message: str, *, style: str = "dim") -> None:
    """A progress step, hint or warning for people, on stderr."""
    stderr.print(Text(message, style=style))


def step(message: str) -> None:
    """One step of long work (starting a service, creating topics), on stderr."""
    stderr.print(Text("• ", style="cyan") + Text(message))


def warn(message: str) -> None:
    note(f"warning: {message}", style="yellow")


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    right: Sequence[str] = (),
    wrap: Sequence[str] | None = None,
) -> None:
    """A table on stdout. Cells are shown as text (no markup); ``right`` columns align right.

    Only the ``wrap`` columns (default: the last one) wrap when the table is too wide, so names
    and numbers stay on one line and stay greppable.
    """
    wrapping = set(wrap) if wrap is not None else {columns[-1]}
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(
            column,
            justify="right" if column in right else "left",
            no_wrap=column not in wrapping,
            overflow="fold",
        )
    for row in rows:
        out.add_row(*(cell if isinstance(cell, Text) else Text(_cell(cell)) for cell in row))
    # In a pipe or a file there is no terminal width to respect: keep rows on one line.
    console = stdout if stdout.is_terminal else Console(highlight=False, width=PIPE_WIDTH)
    console.print(out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def styled(text: str, style: str) -> Text:
    return Text(text, style=style)


def prefixed(name: str, line: str, *, width: int, index: int) -> None:
    """One line of a child process's output, behind its component name (``ixo up``)."""
    label = Text(f"{name:<{width}} | ", style=_PREFIX_STYLES[index % len(_PREFIX_STYLES)])
    # Children may colour their logs: keep the colours on a terminal, drop the codes elsewhere.
    stdout.print(label + Text.from_ansi(line), soft_wrap=True)
    stdout.file.flush()


def record_line(row: RecordRow, *, dead_letter: bool) -> None:
    """One record of ``ixo tail`` in people's mode."""
    line = Text()
    line.append(row.time, style="dim")
    line.append(f"  {row.position:<10}", style="cyan")
    if row.raw is not None:
        line.append("  (not JSON) ", style="red")
        line.append(row.raw)
        if row.headers:
            line.append("  headers: " + json_text(row.headers), style="dim")
    else:
        line.append(f"  {row.type}", style="bold")
        line.append(f"  {row.subject}", style="green")
        line.append(f"  {row.summary}")
    if dead_letter:
        line.append(f"  [{row.error_type or '?'}] ", style="bold red")
        line.append(row.error or "", style="red")
    stdout.print(line, soft_wrap=True)
    stdout.file.flush()


@contextmanager
def progress_bar(description: str) -> Iterator[Progress]:
    """A progress bar on stderr (the caller updates its first task)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )
    with bar:
        bar.add_task(description, total=None)
        yield bar
