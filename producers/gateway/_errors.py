"""How the gateway answers an invalid event or body: 422 naming the field that failed."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from producers.gateway._metrics import REJECTED
from schemas import InvalidEvent


def invalid_response(exc: InvalidEvent) -> JSONResponse:
    REJECTED.labels(exc.kind).inc()
    loc = ["body", *(exc.field.split(".") if exc.field else [])]
    return JSONResponse(
        status_code=422, content={"detail": [{"loc": loc, "msg": str(exc), "type": exc.kind}]}
    )
