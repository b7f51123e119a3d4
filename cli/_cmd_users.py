"""``ixo users`` and ``ixo tokens``: accounts, passwords and API tokens.

The CLI is the operator's tool: whoever runs it holds the deployment's own settings (Kafka,
MongoDB, Redis), so it acts with operator rights (decision 0096). Passwords are read from a
prompt or stdin, never from an argument (arguments land in shell history and ``ps``); a token is
printed once, when it is created."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import _output as out
from cli._errors import UsageError
from cli._services import call, cli_services
from infra.settings import Settings
from services import Services, TokenInfo

users_app = typer.Typer(help="Users: create, list, set a password, delete.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
CLIENT = "ixo-cli-users"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Again", hide_input=True)
    if first != second:
        msg = "the two passwords differ"
        raise UsageError(msg)
    return str(first)


@users_app.command("create")
def users_create(
    user_id: Annotated[str, typer.Argument(metavar="USER_ID", show_default=False)],
    name: Annotated[str, typer.Option("--name", help="a display name")] = "",
    password: Annotated[
        bool, typer.Option("--password", help="set a password (prompted) for the web app")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Create a user (publishes ixo.user.created.v1)."""
    secret = _read_password(password_stdin) if (password or password_stdin) else None

    async def work(svc: Services) -> dict[str, Any]:
        receipt = await svc.identity.create_user(user_id, name)
        if secret is not None:
            await svc.identity.set_password(user_id, secret)
        return receipt.as_dict()

    done = call(CLIENT, work)
    if json_:
        out.emit_json(done)
        return
    out.result(f"user {user_id} created" + (" with a password" if secret else ""))


@users_app.command("list")
def users_list(json_: JsonOpt = False) -> None:
    """Users from the ``users`` read model."""

    async def work(svc: Services) -> list[dict[str, Any]]:
        return [
            {
                "user_id": u.user_id,
                "display_name": u.display_name,
                "created_at": u.created_at.isoformat() if u.created_at else None,
            }
            for u in await svc.identity.users()
        ]

    rows = call(CLIENT, work)
    if json_:
        out.emit_json(rows)
        return
    out.table(
        ["user", "name", "created"],
        [[r["user_id"], r["display_name"] or "-", r["created_at"] or "-"] for r in rows],
    )


@users_app.command("passwd")
def users_passwd(
    user_id: Annotated[str, typer.Argument(metavar="USER_ID", show_default=False)],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
) -> None:
    """Set a user's password for the web app (prompted, or from stdin)."""
    secret = _read_password(password_stdin)

    async def work(svc: Services) -> None:
        await svc.identity.set_password(user_id, secret)

    call(CLIENT, work)
    out.result(f"password of {user_id} set")


@users_app.command("rm")
def users_rm(
    user_id: Annotated[str, typer.Argument(metavar="USER_ID", show_default=False)],
) -> None:
    """Delete a user: they can no longer sign in; their tokens stop working."""

    async def work(svc: Services) -> None:
        await svc.identity.delete_user(user_id)

    call(CLIENT, work)
    out.result(f"user {user_id} deleted")


def _token_row(info: TokenInfo) -> list[Any]:
    return [
        info.token_id,
        info.user_id,
        ",".join(info.scopes),
        info.name or "-",
        info.created_at.isoformat(),
        info.revoked_at.isoformat() if info.revoked_at else "-",
    ]


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="the token's user", show_default=False)],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="user (default) and/or operator (repeatable)"),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="what the token is for")] = "",
    json_: JsonOpt = False,
) -> None:
    """Create an API token; its value is printed this once."""
    made = call(CLIENT, lambda svc: svc.identity.create_token(user, tuple(scope or ["user"]), name))
    if json_:
        out.emit_json({"token": made.token, **made.info.as_dict()})
        return
    out.result(made.token)
    out.note(f"{made.info.token_id} for {user} ({', '.join(made.info.scopes)}): shown once")


@tokens_app.command("list")
def tokens_list(
    user: Annotated[
        str | None, typer.Option("--user", help="only this user's tokens", show_default=False)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """API tokens (never their values)."""
    found = call(CLIENT, lambda svc: svc.identity.tokens(user))
    if json_:
        out.emit_json([t.as_dict() for t in found])
        return
    out.table(
        ["token", "user", "scopes", "name", "created", "revoked"], [_token_row(t) for t in found]
    )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(metavar="TOKEN_ID", show_default=False)],
) -> None:
    """Revoke a token; every gateway refuses it within seconds."""
    info = call(CLIENT, lambda svc: svc.identity.revoke_token(token_id))
    out.result(f"{info.token_id} of {info.user_id} revoked")


OPERATOR = "operator"
TOKEN_FILE = "operator-token"  # noqa: S105 - a file name


async def ensure_operator_token(settings: Settings) -> tuple[Path, str | None]:
    """On a deployment's first start: the ``operator`` user and an operator token, saved under
    the state dir (mode 0600). Returns the file and the token when it was just created (to be
    printed once), else None."""
    path = settings.state_dir / TOKEN_FILE
    if path.exists():
        return path, None
    async with cli_services(settings, CLIENT) as svc:
        await svc.identity.ensure_user(OPERATOR, "Operator")
        made = await svc.identity.create_token(OPERATOR, ("operator", "user"), "first start")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(made.token + "\n")
    return path, made.token


def announce_operator_token(settings: Settings) -> None:
    """``ixo up``: make the first operator token if there is none, and say where it is."""
    token_file, token = asyncio.run(ensure_operator_token(settings))
    if token is not None:
        out.result(f"operator token (shown once, saved in {token_file}): {token}", style="bold")
    else:
        out.note(f"operator token: in {token_file}")
