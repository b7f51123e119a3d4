"""The ``ixo`` Typer application: the command tree and the one place errors become exit codes."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cli import _output as out
from cli._cmd_chain import chain_app
from cli._cmd_chainlogs import chain_logs
from cli._cmd_contracts import contracts_app
from cli._cmd_dlq import dlq_app
from cli._cmd_groups import groups_app
from cli._cmd_ingest import ingest
from cli._cmd_knowledge import posts, search
from cli._cmd_rebuild import rebuild_app
from cli._cmd_replay import replay, schemas_app
from cli._cmd_rules import rules_app
from cli._cmd_run import run, up
from cli._cmd_schedules import schedules_app
from cli._cmd_stack import stack_app
from cli._cmd_topics import lag, publish, tail, topics
from cli._cmd_trace import trace
from cli._cmd_users import tokens_app, users_app
from cli._errors import EXIT_INTERRUPTED, EXIT_OK, describe
from infra.logs import configure_logging


class IxoGroup(TyperGroup):
    """The root command: runs everything non-standalone so that every expected error, whether
    Click's usage errors or ours, is reported here as one ``error: ...`` line and an exit code."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except KeyboardInterrupt:
            if not standalone_mode:
                raise
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            found = describe(exc)
            if found is None or not standalone_mode:
                raise
            code, message = found
            if type(exc).__name__ == "NoArgsIsHelpError":
                # A group called without a command: its help was already printed (rich prints
                # while the error is built); without rich the help is the message.
                if message:
                    out.write_line(exc.format_message())  # type: ignore[attr-defined]
            else:
                out.error(message)
            sys.exit(code)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


app = typer.Typer(
    name="ixo",
    cls=IxoGroup,
    help="Impressox operator tool: the local stack, services, topics, events, replays.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _package_version() -> str:
    try:
        return version("impressox")
    except PackageNotFoundError:
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        out.write_line(f"ixo {_package_version()}")
        raise typer.Exit


@app.callback()
def _root(
    version_: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what the libraries do (on stderr).")
    ] = False,
) -> None:
    """Impressox operator tool: the local stack, services, topics, events, replays."""
    if verbose:
        configure_logging("DEBUG")
    else:
        # Library logs (aiokafka's reconnect warnings...) would break the one-line errors;
        # components configure their own logging in `ixo run`.
        logging.getLogger().addHandler(logging.NullHandler())


app.add_typer(stack_app, name="stack")
app.command()(up)
app.command()(run)
app.command()(topics)
app.command()(tail)
app.command()(publish)
app.command()(replay)
app.command()(lag)
app.command()(trace)
app.add_typer(dlq_app, name="dlq")
app.add_typer(groups_app, name="groups")
app.add_typer(schemas_app, name="schemas")
app.add_typer(rules_app, name="rules")
app.add_typer(schedules_app, name="schedules")
app.add_typer(rebuild_app, name="rebuild")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.command()(ingest)
app.add_typer(contracts_app, name="contracts")
app.add_typer(chain_app, name="chain")
app.command()(search)
app.command()(posts)
app.command(name="chain-logs")(chain_logs)


def main() -> None:
    """Entry point of the ``ixo`` console script."""
    app()
