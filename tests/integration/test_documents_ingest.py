"""Document ingestion on the real stack: the service, ``ixo ingest`` and ``POST /v1/documents``
each publish one ``ixo.rag.document.submitted.v1`` per good document, and nothing for a bad one."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from infra.kafka import EventPublisher
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from schemas import RAG_DOCUMENTS, InvalidEvent
from services import DocumentService, IdentityService, Services, doc_id_for
from tests._cli import aixo
from tests._kafka import events_on
from tests.integration.conftest import UserToken, bearer

MARKDOWN = "# Halving\n\nBitcoin issuance halves every 210,000 blocks.\n"
HTML = b"<html><body><h1>Merge</h1><script>x()</script><p>Ethereum moved to stake.</p></body>"


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


@pytest.fixture
async def services(settings: Settings, publisher: EventPublisher) -> AsyncIterator[Services]:
    client = mongo_client(settings)
    try:
        database = await open_database(settings, client)
        yield Services.build(publisher, database, settings, source="/tests")
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()


async def documents(settings: Settings) -> list[dict[str, Any]]:
    return [e["data"] for e in await events_on(settings, RAG_DOCUMENTS)]


async def test_each_format_becomes_one_event_with_its_text(
    services: Services, settings: Settings
) -> None:
    svc = services.documents
    receipts = [
        await svc.submit("alice", "a.txt", b"plain words"),
        await svc.submit("alice", "notes/b.md", MARKDOWN.encode()),
        await svc.submit("alice", "c.html", HTML),
        await svc.submit("alice", "d.pdf", pdf_with("Solana fees fell in May")),
    ]
    assert {r.topic for r in receipts} == {settings.topic(RAG_DOCUMENTS.name)}
    found = {d["source"]: d for d in await documents(settings)}
    assert {name: (d["media_type"], d["text"]) for name, d in found.items()} == {
        "a.txt": ("text/plain", "plain words"),
        "notes/b.md": ("text/markdown", MARKDOWN),
        "c.html": ("text/html", "Merge\nEthereum moved to stake."),
        "d.pdf": ("application/pdf", "Solana fees fell in May"),
    }
    assert {d["owner"] for d in found.values()} == {"alice"}
    assert found["notes/b.md"]["title"] == "b.md"
    assert found["a.txt"]["doc_id"] == doc_id_for("alice", "a.txt") == receipts[0].entity_id


async def test_the_same_name_again_is_an_edit_of_the_same_document(
    services: Services, settings: Settings
) -> None:
    first = await services.documents.submit("alice", "kb/faq.md", b"v1")
    second = await services.documents.submit("alice", "kb/faq.md", b"v2")
    bobs = await services.documents.submit("bob", "kb/faq.md", b"v1")
    assert first.entity_id == second.entity_id != bobs.entity_id
    assert first.partition == second.partition  # one key: one partition, in order
    records = [(e["subject"], e["data"]["text"]) for e in await events_on(settings, RAG_DOCUMENTS)]
    assert [text for key, text in records if key == first.entity_id] == ["v1", "v2"]


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("empty.txt", b"", "empty file"),
        ("spaces.md", b" \n \n", "empty file"),
        ("binary.txt", b"\x00\x01\x02 bytes", "binary content"),
        ("big.txt", b"z" * 65, "over the limit of 64 bytes"),
        ("corrupt.pdf", b"%PDF-1.4\n%garbage that is no PDF", "unreadable PDF"),
        ("photo.jpg", b"\xff\xd8\xff", "unknown file type"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_published(
    publisher: EventPublisher, settings: Settings, name: str, data: bytes, says: str
) -> None:
    svc = DocumentService(publisher, source="/tests", max_bytes=64)
    with pytest.raises(InvalidEvent) as caught:
        await svc.submit("alice", name, data)
    assert says in str(caught.value)
    assert await events_on(settings, RAG_DOCUMENTS) == []


async def test_ixo_ingest_reports_each_file_and_fails_only_the_bad_ones(
    settings: Settings, settings_env: dict[str, str], identity: IdentityService, tmp_path: Path
) -> None:
    await identity.ensure_user("alice")
    kb = tmp_path / "kb"
    (kb / "deep").mkdir(parents=True)
    (kb / "a.txt").write_text("alpha")
    (kb / "deep" / "b.md").write_text(MARKDOWN)
    (kb / "deep" / "c.pdf").write_bytes(pdf_with("charlie"))
    (kb / "empty.html").write_bytes(b"")
    (kb / "skipped.bin").write_bytes(b"\x00")
    (kb / ".hidden.txt").write_text("not me")

    run = await aixo(settings_env, "ingest", str(kb), "--user", "alice", "--json")
    assert run.returncode == 1, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(Path(r["path"]).name, r["ok"]) for r in rows] == [
        ("a.txt", True),
        ("b.md", True),
        ("c.pdf", True),
        ("empty.html", False),
    ]
    assert "empty file" in rows[3]["error"]
    found = {Path(d["source"]).name: d["text"] for d in await documents(settings)}
    assert found == {"a.txt": "alpha", "b.md": MARKDOWN, "c.pdf": "charlie"}

    again = await aixo(settings_env, "ingest", str(kb / "a.txt"), "--user", "alice")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("ok ")
    assert "1 of 1 ingested" in again.stderr
    ids = [e["subject"] for e in await events_on(settings, RAG_DOCUMENTS)]
    assert ids.count(rows[0]["doc_id"]) == 2  # the same file again: the same document


async def test_ixo_ingest_usage_errors_exit_2_and_publish_nothing(
    settings: Settings, settings_env: dict[str, str], identity: IdentityService, tmp_path: Path
) -> None:
    await identity.ensure_user("alice")
    good = tmp_path / "good.txt"
    good.write_text("fine")
    missing = await aixo(
        settings_env, "ingest", str(good), str(tmp_path / "nope.md"), "--user", "alice"
    )
    assert missing.returncode == 2
    assert "no such file or directory" in missing.stderr
    nobody = await aixo(settings_env, "ingest", str(good), "--user", "nobody")
    assert nobody.returncode == 2
    assert "no user nobody" in nobody.stderr
    no_user = await aixo(settings_env, "ingest", str(good))
    assert no_user.returncode == 2
    assert await events_on(settings, RAG_DOCUMENTS) == []


async def test_post_documents_publishes_for_the_caller_only(
    gateway: httpx.AsyncClient, settings: Settings, user_token: UserToken
) -> None:
    alice = bearer(await user_token("alice"))
    body = {
        "name": "report.pdf",
        "content_base64": base64.b64encode(pdf_with("Gas fees spiked")).decode(),
    }
    made = await gateway.post("/v1/documents", json=body, headers=alice)
    assert made.status_code == 202, made.text
    assert made.json()["doc_id"] == doc_id_for("alice", "report.pdf")

    refused = [
        await gateway.post("/v1/documents", json={**body, "owner": "bob"}, headers=alice),
        await gateway.post("/v1/documents", json={**body, "content_base64": "@@"}, headers=alice),
        await gateway.post(
            "/v1/documents", json={"name": "e.txt", "content_base64": ""}, headers=alice
        ),
        await gateway.post("/v1/documents", json={**body, "name": "x.exe"}, headers=alice),
    ]
    assert [r.status_code for r in refused] == [422] * 4
    assert "comes from your credentials" in refused[0].text
    assert "base64" in refused[1].text
    assert "empty file" in refused[2].text
    assert "unknown file type" in refused[3].text
    anonymous = await gateway.post("/v1/documents", json=body)
    assert anonymous.status_code == 401

    published = await documents(settings)
    assert [(d["owner"], d["source"], d["text"]) for d in published] == [
        ("alice", "report.pdf", "Gas fees spiked")
    ]


async def test_ixo_ingest_refuses_a_file_over_the_limit_setting(
    settings: Settings, settings_env: dict[str, str], identity: IdentityService, tmp_path: Path
) -> None:
    await identity.ensure_user("alice")
    (tmp_path / "small.txt").write_text("tiny")
    (tmp_path / "large.txt").write_text("x" * 17)
    env = {**settings_env, "IXO_INGEST_MAX_BYTES": "16"}
    run = await aixo(env, "ingest", str(tmp_path), "--user", "alice")
    assert run.returncode == 1, run.stderr
    assert "large.txt: over the limit of 16 bytes" in run.stdout
    assert "1 of 2 ingested" in run.stderr
    assert [d["text"] for d in await documents(settings)] == ["tiny"]
