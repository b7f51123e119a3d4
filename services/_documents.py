"""Documents for the knowledge base: a file (text, Markdown, HTML or PDF) parsed into text and
published as ``ixo.rag.document.submitted.v1`` on ``ixo.rag.documents``, keyed by a document id
derived from (owner, name), so submitting the same name again is an edit of the same document.

Everything is checked before anything is published: empty, binary, oversized, unparsable or
unknown input raises :class:`~schemas.InvalidEvent` naming the problem (decision 0123).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from collections.abc import Callable
from pathlib import PurePosixPath

from bs4 import BeautifulSoup
from pypdf import PdfReader

from schemas import RAG_DOCUMENTS, InvalidEvent, RagDocumentSubmittedV1
from services._commands import Commands, Publisher, Receipt, parse_input

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
"""The default most bytes of one input file (``IXO_INGEST_MAX_BYTES``)."""
MAX_DOCUMENT_CHARS = 5_000_000
"""The most characters of parsed text (the ``text`` field's limit in the schema)."""
DOC_ID_CHARS = 26
"""Base32 characters of the (owner, name) digest in a document id (130 bits)."""

MEDIA_TYPES: dict[str, str] = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}
"""The file extensions understood, and the media type each means."""
NOT_TEXT = ("script", "style", "template", "noscript")
"""HTML elements whose content is not the page's text."""


def doc_id_for(owner: str, name: str) -> str:
    """The document id of ``name`` of ``owner``: ``doc-`` and 26 base32 characters of a SHA-256
    over both, the same on every submission (an edit replaces the document)."""
    digest = hashlib.sha256(f"document\0{owner}\0{name}".encode()).digest()
    return "doc-" + base64.b32encode(digest).decode("ascii").lower()[:DOC_ID_CHARS]


def media_type_for(name: str, media_type: str | None = None) -> str:
    """The media type of a document: ``media_type`` (parameters such as ``charset`` dropped)
    when given, else from the name's extension; :class:`InvalidEvent` when neither is one of
    :data:`MEDIA_TYPES`."""
    if media_type:
        kind = media_type.split(";", 1)[0].strip().lower()
        if kind not in MEDIA_TYPES.values():
            known = ", ".join(sorted(set(MEDIA_TYPES.values())))
            msg = f"{name}: unsupported media type {kind!r} (supported: {known})"
            raise _refused(msg, "media_type")
        return kind
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    if suffix not in MEDIA_TYPES:
        known = ", ".join(sorted(MEDIA_TYPES))
        what = f"extension {suffix!r}" if suffix else "no extension"
        msg = f"{name}: unknown file type ({what}; supported: {known})"
        raise _refused(msg, "media_type")
    return MEDIA_TYPES[suffix]


def _refused(message: str, field: str) -> InvalidEvent:
    return InvalidEvent(message, kind="invalid_event", field=field)


def _decode(name: str, data: bytes) -> str:
    if b"\x00" in data:
        msg = f"{name}: binary content (NUL bytes) in a text file"
        raise _refused(msg, "data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        msg = f"{name}: not UTF-8 text (invalid byte at offset {err.start})"
        raise _refused(msg, "data") from None


def _html_text(name: str, data: bytes) -> str:
    soup = BeautifulSoup(_decode(name, data), "html.parser")
    for element in soup(NOT_TEXT):
        element.decompose()
    lines = (line.strip() for line in soup.get_text(separator="\n").splitlines())
    return "\n".join(line for line in lines if line)


def _pdf_text(name: str, data: bytes) -> str:
    if not data.startswith(b"%PDF-"):
        msg = f"{name}: not a PDF (no %PDF- header)"
        raise _refused(msg, "data")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
        pages = [] if encrypted else [page.extract_text() or "" for page in reader.pages]
    except Exception as err:  # a parser of untrusted bytes can raise anything
        msg = f"{name}: unreadable PDF ({type(err).__name__}: {err})"
        raise _refused(msg[:500], "data") from None
    if encrypted:
        msg = f"{name}: the PDF is encrypted; decrypt it first"
        raise _refused(msg, "data")
    return "\n\n".join(text.strip() for text in pages if text.strip())


PARSERS: dict[str, Callable[[str, bytes], str]] = {
    "text/plain": _decode,
    "text/markdown": _decode,
    "text/html": _html_text,
    "application/pdf": _pdf_text,
}


def parse_document(
    name: str,
    data: bytes,
    media_type: str | None = None,
    *,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> tuple[str, str]:
    """``(media type, text)`` of a document, or :class:`InvalidEvent` naming why not (unknown
    type, empty, binary, oversized, unparsable). Markdown keeps its markup."""
    kind = media_type_for(name, media_type)
    if len(data) > max_bytes:
        msg = f"{name}: {len(data)} bytes is over the limit of {max_bytes} bytes"
        raise _refused(msg, "data")
    if not data.strip():
        msg = f"{name}: empty file"
        raise _refused(msg, "data")
    text = PARSERS[kind](name, data)
    if not text.strip():
        msg = f"{name}: no text in it ({kind})"
        raise _refused(msg, "data")
    if len(text) > MAX_DOCUMENT_CHARS:
        msg = f"{name}: {len(text)} characters of text is over the limit of {MAX_DOCUMENT_CHARS}"
        raise _refused(msg, "data")
    return kind, text


def _title(name: str) -> str:
    stem = PurePosixPath(name.replace("\\", "/")).name
    return (stem or name)[:500]


class DocumentService:
    """Submits documents to the knowledge base (the embedder indexes them)."""

    def __init__(
        self, publisher: Publisher, *, source: str, max_bytes: int = MAX_DOCUMENT_BYTES
    ) -> None:
        self._commands = Commands(publisher, source=source, topic=RAG_DOCUMENTS, id_field="doc_id")
        self.max_bytes = max_bytes

    async def submit(
        self,
        owner: str,
        name: str,
        data: bytes,
        media_type: str | None = None,
        *,
        title: str | None = None,
    ) -> Receipt:
        """Parse ``data`` (its type from ``media_type``, else from ``name``'s extension) and
        publish it as ``owner``'s document ``name``; nothing is published when it is refused."""
        if not name.strip():
            msg = "a document needs a name"
            raise _refused(msg, "name")
        kind, text = await asyncio.to_thread(
            parse_document, name, data, media_type, max_bytes=self.max_bytes
        )
        payload = parse_input(
            RagDocumentSubmittedV1,
            {
                "doc_id": doc_id_for(owner, name),
                "text": text,
                "source": name[:2000],
                "owner": owner,
                "title": (title or _title(name)).strip()[:500] or None,
                "media_type": kind,
            },
        )
        return await self._commands.publish(payload)
