"""``ixo trace CORRELATION_ID``: everything that happened for one correlation id, across the
catalogue topics, in time order (from the projector's trace index, never by scanning topics)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import _output as out
from cli._errors import UsageError
from cli._services import call
from consumers.projector import MAX_TRACE_LIMIT

MAX_ID = 200


def trace(
    correlation_id: Annotated[
        str,
        typer.Argument(
            metavar="CORRELATION_ID",
            help="A CloudEvents correlationid: a chat request's id, a rule event's, ...",
            show_default=False,
        ),
    ],
    limit: Annotated[
        int,
        typer.Option(min=1, max=MAX_TRACE_LIMIT, help="At most this many events (the first)."),
    ] = 1000,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Every event with this correlation id across the topics, in time order: the chat request,
    the answer's deltas and tool calls, a rule it created... (the projector indexes every
    catalogue topic but the market ticks; `ixo up` runs it)."""
    if not correlation_id.strip() or len(correlation_id) > MAX_ID:
        msg = f"CORRELATION_ID must be 1 to {MAX_ID} characters"
        raise UsageError(msg)
    view = call("ixo-cli-trace", lambda svc: svc.ops.trace(correlation_id, limit=limit))
    if json_:
        out.emit_json(view.as_dict())
        return
    if not view.events:
        out.note(
            f"nothing indexed for {correlation_id} (is the projector running? "
            "ticks are not indexed; the index keeps IXO_TRACE_TTL_S)"
        )
        return
    out.table(
        ["time", "topic", "record", "type", "id", "subject", "source"],
        [
            [
                e.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                e.topic,
                f"p{e.partition}@{e.offset}",
                e.type,
                e.id,
                e.subject,
                e.source,
            ]
            for e in view.events
        ],
        title=f"trace {correlation_id}",
    )
    more = f" (first {len(view.events)} of {view.total})" if view.total > len(view.events) else ""
    out.note(f"{len(view.events)} event{'s' if len(view.events) != 1 else ''}{more}")
