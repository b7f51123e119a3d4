"""``--where``: a safe Python-like expression evaluated against each record (simpleeval).

Names: the envelope attributes (``id``, ``type``, ``source``, ``subject``, ``time``,
``correlationid``, ``causationid``), ``data`` (``data.symbol`` and ``data["symbol"]`` both work;
a missing field reads as ``None``), the record's ``partition``, ``offset``, ``key`` and
``headers``. Functions: ``dec(x)`` (a Decimal from a decimal string or number), ``ts(iso)`` (an
aware datetime; naive means UTC), ``len``, ``str``, ``int``, ``float``, ``lower``, ``upper``.

The expression is checked once, before anything is consumed: a syntax error, an unknown name or
function, or a construct the evaluator does not support is an error up front. At run time an
expression that raises on a record (``dec(None)``, ``'1' > 2``) means that record does not match;
the first such error is kept so the command can tell the user.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from simpleeval import EvalWithCompoundTypes

from cli._errors import UsageError
from cli._records import RawRecord

ENVELOPE_NAMES = ("id", "type", "source", "subject", "time", "correlationid", "causationid")
RECORD_NAMES = ("data", "partition", "offset", "key", "headers")
NAMES = (*ENVELOPE_NAMES, *RECORD_NAMES)


def dec(value: Any) -> Decimal:
    """A Decimal from a decimal string (``"64123.5"``), an int, or a float (by its repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        msg = f"dec() takes a decimal string or number, not {type(value).__name__}"
        raise TypeError(msg)
    try:
        result = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        msg = f"dec(): not a decimal: {value!r}"
        raise ValueError(msg) from None
    return result


def ts(value: Any) -> datetime:
    """An aware datetime from an RFC 3339 / ISO 8601 string (``Z`` allowed; naive means UTC)."""
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, str):
        try:
            found = datetime.fromisoformat(value.strip())
        except ValueError:
            msg = f"ts(): not an ISO 8601 time: {value!r}"
            raise ValueError(msg) from None
    else:
        msg = f"ts() takes an ISO 8601 string, not {type(value).__name__}"
        raise TypeError(msg)
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _lower(value: Any) -> str:
    return str(value).lower()


def _upper(value: Any) -> str:
    return str(value).upper()


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "dec": dec,
    "ts": ts,
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "lower": _lower,
    "upper": _upper,
}


class Fields:
    """A JSON object seen through both attribute and item access; missing keys read as None."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return wrap(self._data.get(name))

    def __getitem__(self, key: Any) -> Any:
        return wrap(self._data.get(key))

    def __contains__(self, key: Any) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Fields):
            return self._data == other._data
        return self._data == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._data)


def wrap(value: Any) -> Any:
    """JSON objects become :class:`Fields` (also inside lists); other values stay as they are."""
    if isinstance(value, dict):
        return Fields(value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def _check(tree: ast.Expression, evaluator: Any) -> None:
    """Refuse, before any record is read, what would fail on every record."""
    bound = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
    known = set(NAMES) | set(FUNCTIONS) | bound
    for node in ast.walk(tree.body):
        supported = isinstance(node, ast.Starred) or type(node) in evaluator.nodes
        if isinstance(node, ast.expr) and not supported:
            msg = f"{type(node).__name__} is not supported in --where expressions"
            raise UsageError(msg)
        if isinstance(node, ast.operator | ast.unaryop | ast.cmpop):
            if type(node) not in evaluator.operators:
                msg = f"operator {type(node).__name__} is not supported in --where expressions"
                raise UsageError(msg)
        elif isinstance(node, ast.Name) and node.id not in known:
            names = ", ".join(NAMES)
            msg = f"unknown name {node.id!r} in --where (names: {names})"
            raise UsageError(msg)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id not in FUNCTIONS:
                functions = ", ".join(FUNCTIONS)
                msg = f"unknown function {node.func.id!r} in --where (functions: {functions})"
                raise UsageError(msg)
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            msg = f"attribute {node.attr!r} is not allowed in --where"
            raise UsageError(msg)


class Where:
    """A compiled ``--where`` filter. Raises :class:`UsageError` when the expression is invalid."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        if not self.expression:
            msg = "empty --where expression"
            raise UsageError(msg)
        try:
            tree = ast.parse(self.expression, mode="eval")
        except SyntaxError as exc:
            msg = f"invalid --where expression: {exc.msg} (at column {exc.offset})"
            raise UsageError(msg) from None
        self._evaluator = EvalWithCompoundTypes(functions=dict(FUNCTIONS), names={})
        _check(tree, self._evaluator)
        self._body = tree.body
        self.failures = 0
        self.first_failure: str | None = None

    def names_for(self, record: RawRecord) -> dict[str, Any]:
        event = record.event or {}
        names: dict[str, Any] = {name: event.get(name) for name in ENVELOPE_NAMES}
        names.update(
            data=wrap(event.get("data")),
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            headers=Fields(record.headers),
        )
        return names

    def evaluate(self, record: RawRecord) -> Any:
        """The expression's value for ``record`` (raises what the expression raises)."""
        self._evaluator.names = self.names_for(record)
        return self._evaluator.eval(self.expression, previously_parsed=self._body)

    def matches(self, record: RawRecord) -> bool:
        """True when the record is a JSON object and the expression is truthy for it."""
        if record.event is None:
            return False
        try:
            return bool(self.evaluate(record))
        except Exception as exc:  # any failure on one record means "does not match"
            self.failures += 1
            if self.first_failure is None:
                self.first_failure = f"{record.position}: {type(exc).__name__}: {exc}"
            return False
