"""How the gateway answers an error: one body shape (:class:`ErrorBody`), and never more than a
bounded echo of what the caller sent.

A 422 names the field that failed (``loc``), what was wrong (``msg``) and its ``type``; FastAPI's
own handler would also return the ``input`` (all of it: a 10 MB field came back as 10 MB), so it
is replaced here. Every text that may carry the caller's input is cut to a bounded length, in
the middle, so both what was wrong and what was expected stay readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from producers.gateway._metrics import REJECTED
from schemas import InvalidEvent

MAX_MESSAGE = 1000
"""The longest ``msg`` or ``detail`` text answered (characters)."""
MAX_LOC_PART = 100
"""The longest element of a ``loc`` (a field name may be the caller's own key)."""
MAX_LOC_DEPTH = 16
"""The most elements of a ``loc`` (a body may nest deeper than any field we declare)."""
MAX_ERRORS = 10
"""The most errors listed in one 422."""
_ELLIPSIS = " … "


class ErrorItem(BaseModel):
    """One thing wrong with a request: where (``loc``), what (``msg``), which kind (``type``)."""

    model_config = ConfigDict(frozen=True)

    loc: list[str | int] = Field(description='path to the field, e.g. ["body", "data", "price"]')
    msg: str = Field(max_length=MAX_MESSAGE + len(_ELLIPSIS))
    type: str


class ErrorBody(BaseModel):
    """Every error the gateway answers (4xx and 503): a short text, or the list of what failed."""

    model_config = ConfigDict(frozen=True)

    detail: str | list[ErrorItem]


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` when short enough, else its start and end around an ellipsis (``limit`` chars
    of the original at most)."""
    if len(text) <= limit:
        return text
    head = limit // 2
    tail = limit - head
    return f"{text[:head]}{_ELLIPSIS}{text[-tail:]}"


def _loc(parts: Iterable[Any]) -> list[str | int]:
    loc: list[str | int] = []
    for part in parts:
        if len(loc) == MAX_LOC_DEPTH:
            loc.append("…")
            break
        loc.append(part if isinstance(part, int) else bounded(str(part), MAX_LOC_PART))
    return loc


def error_items(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``loc``, ``msg`` and ``type`` of the first :data:`MAX_ERRORS` errors, bounded; never
    ``input`` or ``ctx`` (they carry what the caller sent)."""
    return [
        {
            "loc": _loc(error.get("loc", ())),
            "msg": bounded(str(error.get("msg", ""))),
            "type": bounded(str(error.get("type", "invalid")), MAX_LOC_PART),
        }
        for error in errors[:MAX_ERRORS]
    ]


def invalid_response(exc: InvalidEvent) -> JSONResponse:
    """422 for an event or body that fails its contract, naming the field that failed."""
    REJECTED.labels(exc.kind).inc()
    loc = ["body", *(exc.field.split(".") if exc.field else [])]
    return JSONResponse(
        status_code=422,
        content={"detail": error_items([{"loc": loc, "msg": str(exc), "type": exc.kind}])},
    )


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """422 for a request FastAPI could not validate, without the input it was given."""
    return JSONResponse(status_code=422, content={"detail": error_items(exc.errors())})


def http_error_response(exc: StarletteHTTPException) -> Response:
    """FastAPI's answer to an ``HTTPException`` (its headers kept: ``Retry-After``,
    ``WWW-Authenticate``), with a text ``detail`` bounded.

    A JSON body that is not even text (FastAPI answers 400 when its bytes are not UTF-8) is an
    invalid body like any other: 422, as invalid JSON already is."""
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        msg = "body is not JSON: its bytes are not UTF-8 text"
        return JSONResponse(
            status_code=422,
            content={
                "detail": error_items([{"loc": ["body"], "msg": msg, "type": "json_invalid"}])
            },
        )
    headers = getattr(exc, "headers", None)
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=headers)
    detail = bounded(exc.detail) if isinstance(exc.detail, str) else exc.detail
    return JSONResponse(status_code=exc.status_code, content={"detail": detail}, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Replace FastAPI's 422 and ``HTTPException`` handlers with the bounded ones above."""

    @app.exception_handler(RequestValidationError)
    async def on_request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return http_error_response(exc)
