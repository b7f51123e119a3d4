"""The Discord bot as `ixo run discord-bot` runs it: interactions are POSTed over HTTP to the real
hikari interaction server, signed with a test Ed25519 key; its REST calls go to the stand-in
Discord API; real Kafka, Redis and FerretDB behind it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from pydantic import SecretStr
from redis.asyncio import Redis

from bots import delivery_event_id, rule_id_for, run_discord_bot
from infra.kafka import EventPublisher, make_broker
from infra.settings import Settings
from infra.stack.standins import DiscordStandin, free_port
from schemas import ALERT_RULES, CHAT_REQUESTS, USER_LINKS, ChatResponseCompletedV1, CloudEvent
from services import IdentityService
from tests._kafka import events_on, read_topic
from tests.integration._linking import identity_service

CHANNEL = "5550001"
USER = "4440001"


@dataclass
class Endpoint:
    """The bot's interaction endpoint and how to sign for it."""

    url: str
    key: SigningKey
    standin: DiscordStandin
    client: httpx.AsyncClient

    def interaction(
        self, interaction_id: str, name: str, options: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """An APPLICATION_COMMAND interaction as Discord sends it (in a DM)."""
        return {
            "id": interaction_id,
            "application_id": str(self.standin.application_id),
            "type": 2,
            "data": {
                "id": "7770001",
                "name": name,
                "type": 1,
                "options": [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()],
            },
            "channel_id": CHANNEL,
            "channel": {"id": CHANNEL, "type": 1},
            "user": {
                "id": USER,
                "username": "alice",
                "discriminator": "0",
                "global_name": "Alice",
                "avatar": None,
                "public_flags": 0,
            },
            "token": f"itoken-{interaction_id}",
            "version": 1,
            "app_permissions": "0",
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"1": USER},
            "context": 1,
            "attachment_size_limit": 26214400,
        }

    async def post(
        self, payload: dict[str, Any], *, key: SigningKey | None = None, sign: bool = True
    ) -> httpx.Response:
        body = json.dumps(payload).encode()
        timestamp = str(int(time.time()))
        headers = {"content-type": "application/json"}
        if sign:
            signature = (key or self.key).sign(timestamp.encode() + body).signature.hex()
            headers |= {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": timestamp}
        return await self.client.post(self.url, content=body, headers=headers)

    async def command(self, interaction_id: str, name: str, **options: str) -> dict[str, Any]:
        response = await self.post(self.interaction(interaction_id, name, options))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
async def identity(
    settings: Settings, publisher: EventPublisher, redis: Redis
) -> AsyncIterator[IdentityService]:
    async with identity_service(settings, publisher, redis) as found:
        yield found


@pytest.fixture
async def discord(settings: Settings, topics: None) -> AsyncIterator[Endpoint]:
    key = SigningKey.generate()
    async with DiscordStandin(public_key=key.verify_key.encode().hex()) as dc:
        bot_settings = settings.model_copy(
            update={
                "discord_token": SecretStr(dc.token),
                "discord_api_url": dc.url,
                "discord_public_key": key.verify_key.encode().hex(),
            }
        )
        port = free_port()
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            run_discord_bot(bot_settings, stop=stop, ready=ready, host="127.0.0.1", port=port)
        )
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiting}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            waiting.cancel()
            await task
        assert ready.is_set(), "the Discord bot did not become ready"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                yield Endpoint(f"http://127.0.0.1:{port}/interactions", key, dc, client)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def test_requests_without_a_good_signature_are_rejected(
    discord: Endpoint, settings: Settings
) -> None:
    payload = discord.interaction(
        "2001", "alert", {"symbol": "BTCUSDT", "condition": "above", "value": "1"}
    )
    assert (await discord.post(payload, sign=False)).status_code == 401
    assert (await discord.post(payload, key=SigningKey.generate())).status_code == 401
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    signature = discord.key.sign(timestamp.encode() + body).signature.hex()
    tampered = body.replace(b"BTCUSDT", b"ETHUSDT")
    response = await discord.client.post(
        discord.url,
        content=tampered,
        headers={
            "content-type": "application/json",
            "X-Signature-Ed25519": signature,
            "X-Signature-Timestamp": timestamp,
        },
    )
    assert response.status_code == 401
    assert await read_topic(settings, ALERT_RULES) == []
    # A genuine PING gets a PONG.
    ping = await discord.post(
        {"id": "1", "application_id": "1", "type": 1, "token": "t", "version": 1}
    )
    assert ping.status_code == 200
    assert ping.json() == {"type": 1}


async def test_slash_commands_become_events_and_answers(
    discord: Endpoint, settings: Settings, identity: IdentityService
) -> None:
    dc = discord.standin
    names = {c["name"] for c in dc.commands["global"]}
    assert {"price", "alert", "alerts", "unalert", "ask", "start", "link"} <= names

    # Not linked: /alert publishes nothing; /start says how to get a code; a forged one fails.
    refused = await discord.command(
        "2997", "alert", symbol="btcusdt", condition="below", value="60000"
    )
    assert refused["data"]["content"].startswith("Link this account first:")
    how = await discord.command("2998", "start")
    assert "POST /v1/me/link-codes" in how["data"]["content"]
    forged = await discord.command("2999", "link", code="ABCDEFGH")
    assert forged["data"]["content"].startswith("That link code is not valid")
    assert await read_topic(settings, ALERT_RULES) == []
    assert await read_topic(settings, USER_LINKS) == []
    # /link with a code issued to alice links this Discord account to alice.
    await identity.create_user("alice")
    code = await identity.issue_link_code("alice")
    linked = await discord.command("3000", "link", code=code.code)
    assert linked["data"]["content"].startswith(
        "This account is now linked to Impressox user alice."
    )
    [link] = await events_on(settings, USER_LINKS)
    assert link["id"] == delivery_event_id("discord", "3000")
    assert link["data"] == {
        "link_id": f"discord:{USER}",
        "platform": "discord",
        "platform_user_id": USER,
        "chat_id": CHANNEL,
        "user_id": "alice",
    }

    # /alert: an immediate answer, and a rule event with the id derived from the interaction.
    answer = await discord.command(
        "3001", "alert", symbol="btcusdt", condition="below", value="60000"
    )
    event_id = delivery_event_id("discord", "3001")
    rule_id = rule_id_for(event_id)
    assert answer["type"] == 4
    assert answer["data"]["content"].startswith(f"Alert {rule_id} set: BTCUSDT below 60000")
    # The same interaction delivered again: the same answer, no second rule event.
    again = await discord.command(
        "3001", "alert", symbol="btcusdt", condition="below", value="60000"
    )
    assert again == answer
    rules = [json.loads(r.value) for r in await read_topic(settings, ALERT_RULES)]
    assert [(e["type"], e["data"]["rule_id"]) for e in rules] == [
        ("ixo.alert.rule.created.v1", rule_id)
    ]
    assert rules[0]["data"]["user_id"] == "alice"
    assert rules[0]["data"]["channels"] == [{"kind": "discord", "target": CHANNEL}]

    # A bad command gets the usage.
    bad = await discord.command("3002", "alert", symbol="BTCUSDT", condition="pct", value="0")
    assert "must not be 0" in bad["data"]["content"]
    assert "Usage: /alert" in bad["data"]["content"]
    price = await discord.command("3003", "price", symbol="DOGEUSDT")
    assert price["data"]["content"] == "No price for DOGEUSDT yet."
    assert len(await read_topic(settings, ALERT_RULES)) == 1

    # /ask: deferred at once; the agent's answer edits the deferred response.
    deferred = await discord.command("3004", "ask", text="is BTC going up?")
    assert deferred["type"] == 5
    request_id = delivery_event_id("discord", "3004")
    requests = [json.loads(r.value) for r in await read_topic(settings, CHAT_REQUESTS)]
    assert [e["id"] for e in requests] == [request_id]
    assert requests[0]["data"] == {
        "session_id": f"discord:{CHANNEL}",
        "user_id": "alice",
        "channel": "discord",
        "text": "is BTC going up?",
    }
    broker = make_broker(settings)
    await broker.connect()
    try:
        publisher = EventPublisher(broker, settings)
        await publisher.publish(
            CloudEvent.new(
                ChatResponseCompletedV1(
                    session_id=f"discord:{CHANNEL}", request_id=request_id, text="Nobody knows."
                ),
                source="/tests",
            )
        )

        def edited() -> bool:
            return any(
                m.get("token") == "itoken-3004" and m.get("original", {}).get("content")
                for m in dc.interaction_messages
            )

        await dc.wait_for(edited, timeout=20)
        original = next(m["original"] for m in dc.interaction_messages if "original" in m)
        assert original["content"] == "Nobody knows."
        # An answer whose interaction is unknown (expired) is posted to the channel.
        await publisher.publish(
            CloudEvent.new(
                ChatResponseCompletedV1(
                    session_id=f"discord:{CHANNEL}", request_id="old-request", text="Late answer."
                ),
                source="/tests",
            )
        )
        await dc.wait_for(lambda: dc.contents(CHANNEL) == ["Late answer."], timeout=20)
    finally:
        await broker.stop()
