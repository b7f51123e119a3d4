"""The CLI's errors and the one mapping from any expected error to an exit code and a line.

Exit codes: 0 success, 1 failure (a service unreachable, a stack that will not start), 2 bad
usage or invalid input (an unknown topic, an event that fails its schema, a bad flag).
"""

from __future__ import annotations

from collections.abc import Callable

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError

from infra.stack import StackError
from schemas import InvalidEvent, IxoError, UnknownTopic

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """An error the CLI reports as one line, with its exit code."""

    exit_code = EXIT_FAILURE


class UsageError(CliError):
    """Bad usage or invalid input (exit 2)."""

    exit_code = EXIT_USAGE


class CommandError(CliError):
    """The command could not do its job (exit 1)."""

    exit_code = EXIT_FAILURE


def one_line(text: str) -> str:
    """Collapse a message to a single line."""
    return " ".join(text.split())


def _parser_error(exc: BaseException) -> str:
    """Typer's own errors (bad or missing options...), with a pointer to the command's help."""
    assert isinstance(exc, typer.TyperException)
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    hint = f" (see '{path} --help')" if path and exc.exit_code == EXIT_USAGE else ""
    return exc.format_message() + hint


def _os_error(exc: BaseException) -> str:
    assert isinstance(exc, OSError)
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


Rule = tuple[tuple[type[BaseException], ...], int | None, Callable[[BaseException], str]]

# First match wins. ``None`` as the code means "the exception's own exit_code".
RULES: tuple[Rule, ...] = (
    ((typer.TyperException,), None, _parser_error),
    ((typer.Abort,), EXIT_FAILURE, lambda _: "aborted"),
    ((CliError,), None, str),
    ((InvalidEvent, UnknownTopic), EXIT_USAGE, str),
    ((IxoError, StackError), EXIT_FAILURE, str),
    ((KafkaConnectionError,), EXIT_FAILURE, lambda e: f"cannot reach Kafka: {e}"),
    ((KafkaError,), EXIT_FAILURE, lambda e: f"Kafka: {type(e).__name__}: {e}"),
    ((ValidationError,), EXIT_USAGE, lambda e: f"invalid input: {e}"),
    ((OSError,), EXIT_FAILURE, _os_error),
)


def describe(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, one-line message) for an expected error; None for a bug (show a traceback)."""
    for types, code, message in RULES:
        if isinstance(exc, types):
            found = code if code is not None else int(getattr(exc, "exit_code", EXIT_FAILURE))
            return found, one_line(message(exc))
    return None
