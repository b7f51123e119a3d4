"""Knowledge end to end, as `ixo up` runs it: a user uploads a document to the gateway, the
embedder (real MiniLM, local Qdrant store) indexes it, and `GET /v1/search` finds it by a
paraphrase, with its citation, for its owner only; the chat's offline assistant cites it too.
Real Kafka, FerretDB, Redis and the real model; nothing of ours is faked."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumers.embedder.app import build_app as build_embedder
from consumers.embedder.app import open_knowledge_search
from consumers.orchestrator.app import build_app as build_orchestrator
from consumers.projector.app import build_app as build_projector
from infra.settings import Settings
from infra.stack.standins import LocalServer
from producers.gateway import create_app
from schemas import CHAT_RESPONSES
from tests._kafka import eventually, read_topic, running
from tests.integration._embedder import embedder_settings, minilm
from tests.integration.conftest import UserToken, bearer

HALVING = (
    "Every 210,000 blocks, roughly once every four years, the subsidy a Bitcoin miner receives "
    "for a new block is cut in half. The next halving lowers it from 3.125 to 1.5625 BTC."
)


@pytest.fixture
async def stack(settings: Settings, tmp_path: Path, topics: None) -> AsyncIterator[Any]:
    """Embedder, projector and gateway (its search through the embedder's server)."""
    esettings = embedder_settings(settings, tmp_path)
    knowledge = open_knowledge_search(esettings)
    async with (
        running(build_embedder(esettings, model=minilm())),
        running(build_projector(esettings)),
        LocalServer(create_app(esettings, knowledge=knowledge), lifespan="on") as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        yield esettings, client


async def test_an_uploaded_document_is_found_by_a_paraphrase_for_its_owner_only(
    stack: Any, user_token: UserToken
) -> None:
    settings, gateway = stack
    alice = bearer(await user_token("alice"))
    bob = bearer(await user_token("bob"))
    body = {
        "name": "halving.md",
        "content_base64": base64.b64encode(HALVING.encode()).decode(),
    }
    uploaded = await gateway.post("/v1/documents", json=body, headers=alice)
    assert uploaded.status_code == 202, uploaded.text
    doc_id = uploaded.json()["doc_id"]
    question = {"q": "how often is the reward paid to miners cut by 50%?", "k": 3}

    async def found() -> list[dict[str, Any]]:
        response = await gateway.get("/v1/search", params=question, headers=alice)
        assert response.status_code == 200, response.text
        hits: list[dict[str, Any]] = response.json()["hits"]
        return hits if hits and hits[0]["doc_id"] == doc_id else []

    hits = await eventually(found, timeout=90)
    assert hits[0]["source"] == "document"
    assert hits[0]["citation"] == f"{doc_id} chunk 0"
    assert "210,000 blocks" in hits[0]["text"]

    theirs = await gateway.get("/v1/search", params=question, headers=bob)
    assert theirs.status_code == 200
    assert doc_id not in {h["doc_id"] for h in theirs.json()["hits"]}

    # The chat's offline assistant searches as the asking user and cites the document.
    async with running(build_orchestrator(settings)):
        asked = await gateway.post(
            "/v1/chat", json={"text": "search miner reward halving"}, headers=alice
        )
        assert asked.status_code == 202, asked.text
        request_session = asked.json()["session_id"]

        async def answered() -> str:
            for record in await read_topic(settings, CHAT_RESPONSES):
                event = json.loads(record.value)
                if (
                    event["type"] == "ixo.chat.response.completed.v1"
                    and event["data"]["session_id"] == request_session
                ):
                    text: str = event["data"]["text"]
                    return text
            return ""

        answer = await eventually(answered, timeout=60)
    assert f"{doc_id} chunk 0" in answer
