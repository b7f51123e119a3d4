"""Parsing documents into text (no stack needed): each format, and every refusal naming why."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from schemas import InvalidEvent
from services import doc_id_for, media_type_for, parse_document


def pdf_with(text: str) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica (built with pypdf's writer)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    resources = {NameObject("/F1"): writer._add_object(font)}
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject(resources)}
    )
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_text_and_markdown_keep_their_text() -> None:
    assert parse_document("a.txt", b"plain words\n") == ("text/plain", "plain words\n")
    markdown = "# Halving\n\n*Bitcoin* issuance halves every 210,000 blocks.\n"
    assert parse_document("notes/b.md", markdown.encode()) == ("text/markdown", markdown)
    assert parse_document("c.txt", "\ufeffbom stripped".encode()) == ("text/plain", "bom stripped")


def test_html_becomes_its_visible_text() -> None:
    page = (
        b"<html><head><title>ETH</title><style>p{color:red}</style>"
        b"<script>var secret = 1;</script></head>"
        b"<body><h1>Merge</h1><p>Proof of <b>stake</b> since 2022.</p></body></html>"
    )
    kind, text = parse_document("page.HTML", page)
    assert kind == "text/html"
    assert text.splitlines() == ["ETH", "Merge", "Proof of", "stake", "since 2022."]
    assert "secret" not in text
    assert "color" not in text


def test_pdf_becomes_its_text() -> None:
    kind, text = parse_document("report.pdf", pdf_with("Solana fees fell in May"))
    assert (kind, text) == ("application/pdf", "Solana fees fell in May")


def test_the_media_type_given_wins_over_the_extension() -> None:
    assert media_type_for("x.bin", "text/markdown; charset=utf-8") == "text/markdown"
    assert parse_document("upload", b"<p>hi</p>", "text/html") == ("text/html", "hi")


@pytest.mark.parametrize(
    ("name", "data", "media_type", "says"),
    [
        ("empty.txt", b"", None, "empty file"),
        ("blank.md", b"  \n\t\n", None, "empty file"),
        ("nul.txt", b"abc\x00def", None, "binary content"),
        ("latin.txt", "caf\u00e9".encode("latin-1"), None, "not UTF-8"),
        ("only-script.html", b"<script>x()</script>", None, "no text in it"),
        ("corrupt.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", None, "unreadable PDF"),
        ("fake.pdf", b"just text", None, "not a PDF"),
        ("image.png", b"\x89PNG\r\n", None, "unknown file type"),
        ("noext", b"words", None, "no extension"),
        ("doc.txt", b"words", "application/msword", "unsupported media type"),
    ],
)
def test_bad_input_is_refused_naming_the_problem(
    name: str, data: bytes, media_type: str | None, says: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_document(name, data, media_type)
    assert says in str(caught.value)
    assert name in str(caught.value)


def test_a_pdf_without_text_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="no text in it"):
        parse_document("blank.pdf", pdf_with(""))


def test_oversized_input_is_refused_by_bytes_and_by_characters() -> None:
    with pytest.raises(InvalidEvent, match="over the limit of 10 bytes"):
        parse_document("big.txt", b"x" * 11, max_bytes=10)
    assert parse_document("ok.txt", b"x" * 10, max_bytes=10)[1] == "x" * 10
    with pytest.raises(InvalidEvent, match="characters of text is over the limit"):
        parse_document("long.txt", b"y" * 5_000_001, max_bytes=6_000_000)


def test_document_ids_are_stable_per_owner_and_name() -> None:
    first = doc_id_for("alice", "notes/a.md")
    assert first == doc_id_for("alice", "notes/a.md")
    assert first.startswith("doc-")
    assert len(first) == 30
    others = {doc_id_for("bob", "notes/a.md"), doc_id_for("alice", "notes/b.md")}
    assert first not in others
    assert len(others) == 2
