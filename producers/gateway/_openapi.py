"""What the OpenAPI document says a route can answer, so it tells the truth.

Each route's decorator takes ``responses=documented(...)``: the error statuses it can answer,
each with its body (:class:`~producers.gateway._errors.ErrorBody`), plus what every route can
answer (429 when over the rate limit, and 401/403 unless it is public). A test walks
``/openapi.json`` and a fuzzer checks that no route answers a status it does not document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from producers.gateway._errors import ErrorBody
from schemas import CATALOGUE

Responses = dict[int | str, dict[str, Any]]

WHY: dict[int, str] = {
    401: "No valid credentials: a bearer token (`Authorization: Bearer …`) or the web session",
    403: "The credentials are valid but lack the scope this route needs",
    404: "Nothing of yours has that id (or that name)",
    409: "Conflicts with the current state (e.g. it exists already)",
    413: "The request body is larger than IXO_GATEWAY_MAX_BODY_BYTES",
    422: "The request is invalid: `detail` names each field that failed (`loc`) and why",
    429: "Too many requests from this caller: wait `Retry-After` seconds",
    503: "Kafka or MongoDB cannot take the request now; nothing was done; retry later",
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before the next request would be allowed",
        "schema": {"type": "integer", "minimum": 1},
    }
}

ERROR_BODY_REF = "#/components/schemas/ErrorBody"

BODY = (413, 422)
"""What a route reading a request body can answer besides its own statuses."""


def documented(*statuses: int, public: bool = False, non_json: bool = False) -> Responses:
    """``responses=`` for a route: ``statuses`` (from :data:`WHY`) with their body, plus 429
    (every route is rate limited) and, unless ``public``, 401 and 403.

    A ``non_json`` route (SSE, text) answers its errors in JSON too, but FastAPI files a
    response ``model`` under the route's own media type, so there the body is given by
    reference (the other routes' models put ``ErrorBody`` in the components)."""
    codes = {*statuses, 429} | (set() if public else {401, 403})
    out: Responses = {}
    for status in sorted(codes):
        entry: dict[str, Any] = {"description": WHY[status]}
        if non_json:
            entry["content"] = {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}
        else:
            entry["model"] = ErrorBody
        if status == 429:
            entry["headers"] = RETRY_AFTER
        out[status] = entry
    return out


class Health(BaseModel):
    """``/healthz``: whether Kafka and MongoDB answer (200 ``ok`` when both do, else 503)."""

    model_config = ConfigDict(frozen=True)

    status: str
    kafka: bool
    mongodb: bool


def health_responses() -> Responses:
    """``/healthz`` answers its own body on 503 too (public: probes carry no token)."""
    out = documented(public=True)
    out[200] = {"model": Health, "description": "Kafka and MongoDB both answer"}
    out[503] = {"model": Health, "description": "Kafka or MongoDB does not answer"}
    return out


def event_request_body() -> dict[str, Any]:
    """``openapi_extra`` of ``POST /v1/events`` (which reads its raw body): a CloudEvent of a
    catalogue type, its ``data`` checked against that type's schema (``ixo schemas export``)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "title": "CloudEvent",
                        "type": "object",
                        "required": ["id", "type", "source", "time", "subject", "data"],
                        "properties": {
                            "specversion": {"const": "1.0", "default": "1.0"},
                            "id": {"type": "string", "minLength": 1, "maxLength": 200},
                            "type": {"enum": sorted(CATALOGUE.event_types)},
                            "source": {"type": "string", "minLength": 1, "maxLength": 2000},
                            "time": {"type": "string", "format": "date-time"},
                            "subject": {"type": "string", "minLength": 1, "maxLength": 200},
                            "datacontenttype": {"const": "application/json"},
                            "data": {"type": "object"},
                            "correlationid": {"type": ["string", "null"]},
                            "causationid": {"type": ["string", "null"]},
                        },
                    }
                }
            },
        }
    }
