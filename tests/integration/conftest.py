"""Fixtures of the integration tests: the gateway (with the projector) on a real uvicorn; the
stand-ins for Telegram and Discord and a customer's webhook receiver, each a real HTTP server on
loopback; settings pointing the bots and the notifier at the stand-ins; a publisher and a Redis
client on the session stack; the identity service and API tokens (``user_token``,
``operator_headers``) the gateway accepts; a real anvil per test module (``anvil``: some modules
rewrite its chain), the chain listener's LogEmitter compiled (``emitter_build``) and ``ixo``'s
environment on that anvil (``cli_env``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from consumers.projector import LinksProjection, ProjectionStore
from consumers.projector.app import build_app
from contracts import Build, compile_contracts
from infra.kafka import Delivery, EventPublisher, make_broker
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from infra.stack import RunningAnvil, start_anvil
from infra.stack.standins import DiscordStandin, LocalServer, TelegramStandin
from producers.gateway import create_app
from schemas import USER_LINKS, CloudEvent, UserLinkedV1
from services import IdentityService
from tests._kafka import running
from tests.fakes import WebhookReceiver
from tests.integration._linking import identity_service

UserToken = Callable[..., Awaitable[str]]
"""``await user_token("alice")``: the user (created unless they exist) and a new API token of
theirs (``scopes=("user", "operator")`` for an operator's)."""


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


@pytest.fixture
async def identity(
    settings: Settings, publisher: EventPublisher, redis: Redis
) -> AsyncIterator[IdentityService]:
    """The identity service on the test's database and Redis, as the gateway runs it."""
    async with identity_service(settings, publisher, redis) as found:
        yield found


@pytest.fixture
def user_token(identity: IdentityService) -> UserToken:
    async def make(user_id: str, *, scopes: tuple[str, ...] = ("user",)) -> str:
        await identity.ensure_user(user_id)
        return (await identity.create_token(user_id, scopes, name="test")).token

    return make


@pytest.fixture
async def operator_headers(user_token: UserToken) -> dict[str, str]:
    """An operator's bearer header (the user ``ops``, scopes user and operator)."""
    return bearer(await user_token("ops", scopes=("user", "operator")))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


LinkChat = Callable[[str, str, str], Awaitable[None]]


@pytest.fixture
def link_chat(settings: Settings, publisher: EventPublisher) -> LinkChat:
    """Link a chat to a user as a redeemed code does (the event, then the ``links`` read model
    as the projector folds it), so the user may send rules and schedules there."""

    async def link(user_id: str, platform: str, chat_id: str) -> None:
        data = UserLinkedV1(
            link_id=f"{platform}:{chat_id}",
            platform=platform,  # type: ignore[arg-type]
            platform_user_id=chat_id,
            chat_id=chat_id,
            user_id=user_id,
        )
        event = CloudEvent.new(data, source="/tests")
        meta = await publisher.publish(event, USER_LINKS)
        client = mongo_client(settings)
        try:
            database = await open_database(settings, client)
            delivery = Delivery(event, meta.topic, meta.partition, meta.offset, 0)
            await ProjectionStore(database).apply(LinksProjection(), [delivery], topic=meta.topic)
        finally:
            await client.close()

    return link


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAnvil]:
    """A real anvil on a free port, the test module's own (some modules rewrite its chain)."""
    running = start_anvil(tmp_path_factory.mktemp("anvil"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def emitter_build(tmp_path_factory: pytest.TempPathFactory, anvil: RunningAnvil) -> Build:
    """The LogEmitter fixture contract compiled for the module (after ``anvil``: starting it
    installs the contracts' npm packages on a fresh clone)."""
    from tests.integration._chain_listener import EMITTER_ROOTS  # web3: for the chain tests only

    return compile_contracts(tmp_path_factory.mktemp("build-info"), roots=EMITTER_ROOTS)


@pytest.fixture
def cli_env(anvil: RunningAnvil, build: Build, settings_env: dict[str, str]) -> dict[str, str]:
    """`ixo` settings for one test: its own state dir and topic prefix on the session's Kafka,
    the anvil, the deployer's key. The compile cache of the module's ``build`` fixture is shared
    (solc runs once)."""
    shared = Path(settings_env["IXO_STATE_DIR"]) / "contracts" / "build-info"
    shared.parent.mkdir(parents=True, exist_ok=True)
    shared.symlink_to(build.build_info.parent, target_is_directory=True)
    return {
        **settings_env,
        "IXO_ETH_RPC_URL": anvil.url,
        "IXO_ETH_PRIVATE_KEY": anvil.account(0)[1].get_secret_value(),
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each schemathesis item (one per API operation, ``test_gateway_fuzz.py``) a node id
    of its own: under pytest 9 they all get the test function's id, and pytest-xdist, which
    tells items apart by id, would then run one operation and drop the others."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if isinstance(label, str) and item.id.params is None:
            item._id = item.id.with_params(label)
