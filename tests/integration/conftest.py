"""Fixtures of the integration tests: the gateway (with the projector) on a real uvicorn; the
stand-ins for Telegram and Discord and a customer's webhook receiver, each a real HTTP server on
loopback; settings pointing the bots and the notifier at the stand-ins; a publisher and a Redis
client on the session stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from consumers.projector.app import build_app
from infra.kafka import EventPublisher, make_broker
from infra.settings import Settings
from infra.stack.standins import DiscordStandin, LocalServer, TelegramStandin
from producers.gateway import create_app
from tests._kafka import running
from tests.fakes import WebhookReceiver


@pytest.fixture
async def gateway(settings: Settings, topics: None) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway and the projector, as `ixo up` runs them; an HTTP client on the gateway."""
    async with (
        LocalServer(create_app(settings), lifespan="on", name="gateway") as server,
        running(build_app(settings)),
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        yield client


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramStandin]:
    async with TelegramStandin() as tg:
        yield tg


@pytest.fixture
async def discord() -> AsyncIterator[DiscordStandin]:
    async with DiscordStandin() as dc:
        yield dc


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver().serving() as hooks:
        yield hooks


@pytest.fixture
def bot_settings(settings: Settings, telegram: TelegramStandin, topics: None) -> Settings:
    """The Telegram bot's settings: the stand-in's token and address, the topics created."""
    return settings.model_copy(
        update={"telegram_token": SecretStr(telegram.token), "telegram_api_url": telegram.url}
    )


@pytest.fixture
def notify_settings(
    settings: Settings, telegram: TelegramStandin, discord: DiscordStandin
) -> Settings:
    """The notifier's settings: both chat stand-ins' tokens and addresses."""
    return settings.model_copy(
        update={
            "telegram_token": SecretStr(telegram.token),
            "telegram_api_url": telegram.url,
            "discord_token": SecretStr(discord.token),
            "discord_api_url": discord.url,
        }
    )


@pytest.fixture
async def publisher(settings: Settings, topics: None) -> AsyncIterator[EventPublisher]:
    broker = make_broker(settings, client_id="ixo-test")
    await broker.connect()
    try:
        yield EventPublisher(broker, settings)
    finally:
        await broker.stop()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def read_sse(
    client: httpx.AsyncClient, url: str, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """The first ``count`` Server-Sent Events of a stream, each as its fields."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if current:
                    events.append(current)
                    current = {}
                if len(events) >= count:
                    break
                continue
            field, _, value = line.partition(":")
            current[field] = value.removeprefix(" ")
    return events
