"""``ixo search QUERY`` and ``ixo posts``: the knowledge base as the operator sees it, through
:class:`services.KnowledgeService` like every other client.

The CLI acts as operator (decision 0096): a search covers every user's documents unless
``--user`` scopes it to one user's (as that user would see it). A search needs a knowledge store
(:func:`knowledge_search`); when it does not answer (the embedder is not running) the command
exits 1 saying so. ``ixo posts`` reads the ``posts``
read model. Exit 0 on success (also when nothing is found), 1 when a service does not answer,
2 on bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import typer

from cli import _output as out
from cli._config import load_settings
from cli._errors import CommandError
from cli._services import cli_services
from cli._times import parse_since
from infra.settings import Settings
from services import KnowledgeSearch, KnowledgeUnavailable, hit_view, post_view

CLIENT = "ixo-cli-knowledge"
SNIPPET = 160
"""Characters of a passage or post shown in a table row (``--json`` has all of it)."""
DEFAULT_LIMIT = 50

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
SymbolOpt = Annotated[
    str | None,
    typer.Option("--symbol", help="only about this symbol (BTC means BTCUSDT)", show_default=False),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="only created since (ISO time, or a duration ago: 2h, 1d)",
        show_default=False,
    ),
]


@contextlib.asynccontextmanager
async def knowledge_search(settings: Settings) -> AsyncIterator[KnowledgeSearch]:
    """The knowledge store's search for one command (the embedder's: its server, or the Qdrant
    server of ``IXO_QDRANT_URL``), closed after it."""
    from consumers.embedder.app import open_knowledge_search  # qdrant-client: only when used

    index = open_knowledge_search(settings)
    try:
        yield index
    finally:
        await index.close()


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 1] + "…"


async def _search(
    settings: Settings,
    query: str,
    *,
    owner: str | None,
    k: int,
    source: str | None,
    since: str | None,
    symbol: str | None,
) -> list[dict[str, Any]]:
    start = parse_since(since) if since else None
    async with (
        knowledge_search(settings) as index,
        cli_services(settings, CLIENT, knowledge=index) as svc,
    ):
        try:
            hits = await svc.knowledge.search(
                query, owner=owner, k=k, source=source, since=start, symbol=symbol
            )
        except KnowledgeUnavailable as exc:
            raise CommandError(str(exc)) from None
    return [hit_view(h) for h in hits]


def search(
    query: Annotated[str, typer.Argument(metavar="QUERY", help="what to look for, in words")],
    k: Annotated[int, typer.Option("--k", help="how many passages (1-50)")] = 10,
    source: Annotated[
        Literal["post", "document"] | None,
        typer.Option("--source", help="only posts, or only documents", show_default=False),
    ] = None,
    symbol: SymbolOpt = None,
    since: SinceOpt = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user", help="only what this user may read (default: everything)", show_default=False
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Search the knowledge base (posts and documents), best first, each with its citation."""
    settings = load_settings()
    rows = asyncio.run(
        _search(settings, query, owner=user, k=k, source=source, since=since, symbol=symbol)
    )
    if json_:
        out.emit_json(rows)
        return
    out.table(
        ["#", "score", "source", "citation", "text"],
        [
            [n, f"{r['score']:.3f}", r["source"], r["citation"], _snippet(r["text"])]
            for n, r in enumerate(rows, start=1)
        ],
        right=["#", "score"],
    )
    out.note(f"{len(rows)} passage(s)")


def posts(
    symbol: SymbolOpt = None,
    query: Annotated[
        str | None,
        typer.Option("--q", help="only posts containing these words", show_default=False),
    ] = None,
    since: SinceOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="how many (1-200)")] = DEFAULT_LIMIT,
    json_: JsonOpt = False,
) -> None:
    """Scraped social posts from the ``posts`` read model, newest first."""
    settings = load_settings()
    start = parse_since(since) if since else None

    async def work() -> list[dict[str, Any]]:
        async with cli_services(settings, CLIENT) as svc:
            found = await svc.knowledge.posts(symbol=symbol, text=query, since=start, limit=limit)
        return [post_view(p) for p in found]

    rows = asyncio.run(work())
    if json_:
        out.emit_json(rows)
        return
    out.table(
        ["created", "author", "symbols", "text", "url"],
        [
            [
                r["created_at"],
                r["author"],
                ", ".join(r["symbols"]) or "-",
                _snippet(r["text"]),
                r["url"],
            ]
            for r in rows
        ],
        wrap=["text"],
    )
    out.note(f"{len(rows)} post(s)")
