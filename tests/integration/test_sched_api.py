"""Schedules through the gateway's ``/v1/schedules`` routes and ``ixo schedules``, on real
Kafka and FerretDB: good input becomes ``ixo.schedule.*`` events and shows up in listings
(from the ``schedules`` projection); bad input is refused naming the field, and nothing is
published."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from beanie import Document
from faststream import FastStream

from consumers.projector import ProjectionStore, SchedulesProjection
from infra.kafka import Delivery, make_broker, subscribe
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from producers.gateway import create_app
from readmodels import READ_MODELS
from schemas import SCHEDULES
from tests._cli import aixo
from tests._kafka import eventually, read_topic, wait_assigned
from tests.integration.conftest import LinkChat, UserToken, bearer

DOCUMENTS: list[type[Document]] = list(READ_MODELS)


@asynccontextmanager
async def projector(settings: Settings) -> AsyncIterator[None]:
    """The projector's ``schedules`` projection, consuming ``ixo.schedules``."""
    broker = make_broker(settings, client_id="test-projector")
    holder: dict[str, ProjectionStore] = {}

    async def handle(batch: Sequence[Delivery]) -> None:
        await holder["store"].apply(SchedulesProjection(), batch, topic=batch[0].topic)

    subscribe(broker, settings, SCHEDULES, group="ixo.projector.schedules", handler=handle)
    app = FastStream(broker)
    client = mongo_client(settings)
    holder["store"] = ProjectionStore(await open_database(settings, client, documents=DOCUMENTS))
    await app.start()
    try:
        await wait_assigned(broker)
        yield
    finally:
        await app.stop()
        await client.close()


@pytest.fixture
async def api(
    settings: Settings, topics: None, user_token: UserToken
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway (its schedules routes), with the projector running; the client is alice's."""
    app = create_app(settings)
    client = mongo_client(settings)
    try:
        async with (
            app.router.lifespan_context(app),
            projector(settings),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://gateway",
                headers=bearer(await user_token("alice")),
            ) as http,
        ):
            yield http
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()


GOOD: dict[str, Any] = {
    "cron": "0 8 * * *",
    "timezone": "Europe/Paris",
    "prompt": "summarise BTC",
    "channel": "telegram",
    "chat_id": "7001",
}


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"cron": "61 8 * * *"}, "cron", "not a valid expression"),
    ({"cron": None, "every_s": 30}, "every_s", "greater than or equal to 60"),
    ({"every_s": 3600}, "every_s", "not both"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
    ({"prompt": None}, "prompt", "needs the prompt text"),
    ({"chat_id": None}, "chat_id", "needs the chat id"),
    ({"task": "weather"}, "task", "prompt"),
]


async def test_the_api_refuses_bad_schedules_naming_the_field(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    for change, field, says in BAD:
        response = await api.post("/v1/schedules", json={**GOOD, **change})
        assert response.status_code == 422, response.text
        detail = response.json()["detail"][0]
        assert detail["loc"] == ["body", field], (change, detail)
        assert says in detail["msg"]
    assert await read_topic(settings, SCHEDULES) == []


async def test_the_api_creates_lists_and_deletes_schedules(
    api: httpx.AsyncClient, settings: Settings, user_token: UserToken, link_chat: LinkChat
) -> None:
    bob = bearer(await user_token("bob"))
    # Results may go only to a chat of the user's own.
    foreign = await api.post("/v1/schedules", json=GOOD)
    assert foreign.status_code == 422, foreign.text
    assert foreign.json()["detail"][0]["loc"] == ["body", "chat_id"]
    assert await read_topic(settings, SCHEDULES) == []
    await link_chat("alice", "telegram", "7001")
    created = await api.post("/v1/schedules", json=GOOD)
    assert created.status_code == 202, created.text
    receipt = created.json()
    schedule_id = receipt["schedule_id"]
    assert receipt["type"] == "ixo.schedule.created.v1"
    [record] = await read_topic(settings, SCHEDULES)
    event = json.loads(record.value)
    assert event["id"] == receipt["event_id"]
    assert record.key == schedule_id.encode()
    assert event["data"] == {
        **GOOD,
        "user_id": "alice",  # from the token
        "schedule_id": schedule_id,
        "task": "prompt",
        "every_s": None,
    }

    async def listed() -> list[dict[str, Any]]:
        found = await api.get("/v1/schedules")
        assert found.status_code == 200
        rows: list[dict[str, Any]] = found.json()
        return rows

    [row] = await eventually(listed)
    assert row["schedule_id"] == schedule_id
    assert row["cron"] == "0 8 * * *"
    next_run = datetime.fromisoformat(row["next_run"])
    assert (next_run.hour, next_run.minute) in ((7, 0), (6, 0))  # 08:00 in Paris, in UTC
    assert (await api.get("/v1/schedules", headers=bob)).json() == []

    other = await api.delete(f"/v1/schedules/{schedule_id}", headers=bob)
    assert other.status_code == 404
    deleted = await api.delete(f"/v1/schedules/{schedule_id}")
    assert deleted.status_code == 202
    assert deleted.json()["type"] == "ixo.schedule.deleted.v1"

    async def emptied() -> bool:
        return await listed() == []

    await eventually(emptied)
    assert (await api.delete(f"/v1/schedules/{schedule_id}")).status_code == 404


async def test_the_cli_adds_lists_and_removes_schedules(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    bad = [
        (["--cron", "61 8 * * *", "--prompt", "hi"], "cron:"),
        (["--cron", "0 8 * * *", "--tz", "Mars/Olympus", "--prompt", "hi"], "timezone:"),
        (["--every", "3600", "--digest", "--channel", "telegram"], "chat_id:"),
        (["--prompt", "hi"], "exactly one of --cron"),
    ]
    for args, says in bad:
        done = await aixo(settings_env, "schedules", "add", "--user", "u1", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("error: ")
        assert says in done.stderr
        assert done.stderr.count("\n") == 1
    assert await read_topic(settings, SCHEDULES) == []

    done = await aixo(
        settings_env,
        "schedules",
        "add",
        "--user",
        "u1",
        "--every",
        "86400",
        "--digest",
        "--channel",
        "discord",
        "--chat",
        "555",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    schedule_id = json.loads(done.stdout)["schedule_id"]
    async with projector(settings):

        async def listed() -> list[dict[str, Any]]:
            found = await aixo(settings_env, "schedules", "list", "--user", "u1", "--json")
            assert found.returncode == 0, found.stderr
            rows: list[dict[str, Any]] = json.loads(found.stdout)
            return rows

        [row] = await eventually(listed)
        assert (row["schedule_id"], row["task"], row["every_s"]) == (
            schedule_id,
            "alert_digest",
            86400,
        )
        assert (row["channel"], row["chat_id"]) == ("discord", "555")
        table = await aixo(settings_env, "schedules", "list")
        assert table.returncode == 0
        assert schedule_id in table.stdout
        assert "alert digest" in table.stdout
        other = await aixo(settings_env, "schedules", "rm", schedule_id, "--user", "someone-else")
        assert other.returncode == 1
        assert f"no schedule {schedule_id}" in other.stderr
        assert (await aixo(settings_env, "schedules", "rm", schedule_id)).returncode == 0

        async def emptied() -> bool:
            return await listed() == []

        await eventually(emptied)
