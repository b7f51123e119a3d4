"""``POST /v1/documents``: a document of the caller's into the knowledge base.

The body is JSON: the file's ``name``, its bytes in ``content_base64`` and, optionally, its
``media_type`` (else taken from the name's extension) and ``title`` (decision 0125). The owner is
the caller (from their credentials); a body that names one gets 422. The document is parsed
(text, Markdown, HTML, PDF) and on Kafka (acks=all) before 202; empty, binary, oversized,
unparsable or unknown input gets 422 saying why, and nothing is published.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from producers.gateway._auth import PrincipalDep
from producers.gateway._deps import ServicesDep
from producers.gateway._metrics import PUBLISHED
from producers.gateway._openapi import BODY, documented
from producers.gateway._owned import refuse_owner
from schemas import InvalidEvent

TAG = "knowledge"


class DocumentRequest(BaseModel):
    """A document to ingest: a text, Markdown, HTML or PDF file, base64-encoded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=500,
        description="the file's name, e.g. `notes/halving.md`: with you, it names the document "
        "(sending the same name again replaces it); its extension gives the type",
    )
    content_base64: str = Field(description="the file's bytes, base64-encoded (RFC 4648)")
    media_type: str | None = Field(
        default=None,
        max_length=100,
        description="`text/plain`, `text/markdown`, `text/html` or `application/pdf`; "
        "default: from the name's extension",
    )
    title: str | None = Field(default=None, max_length=500, description="default: the file name")
    owner: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    _no_owner = field_validator("owner", mode="before")(refuse_owner)


def _content(body: DocumentRequest) -> bytes:
    try:
        return base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError):
        msg = "content_base64 is not valid base64"
        raise InvalidEvent(msg, kind="invalid_event", field="content_base64") from None


def documents_router() -> APIRouter:
    """The route, over the app's services (the app maps InvalidEvent to 422, TransientError to
    503)."""
    router = APIRouter(prefix="/v1/documents", tags=[TAG])

    @router.post("", status_code=202, responses=documented(*BODY, 503))
    async def submit_document(
        body: DocumentRequest, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Add a document of yours to the knowledge base (published as
        `ixo.rag.document.submitted.v1`; the embedder indexes it for search). The answer has
        the `doc_id` and where the event landed."""
        receipt = await svc.documents.submit(
            principal.user_id,
            body.name,
            _content(body),
            body.media_type or None,
            title=body.title or None,
        )
        PUBLISHED.labels(receipt.topic).inc()
        return receipt.as_dict()

    return router
