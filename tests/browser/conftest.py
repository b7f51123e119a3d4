"""Fixtures of the browser tests: the web app as a person uses it.

Once per session, on the session's real stack (Kafka, FerretDB, Redis): every topic under a
prefix of its own, the projector, the rule engine and the orchestrator (no model configured:
the offline assistant answers), and the gateway on a real uvicorn serving the built app
(``web/dist``, ``make web``); a user with a password and an operator's API token, made through
the identity service; headless Debian Chromium driven by Playwright (``executable_path``: no
browser download). Each test gets a fresh browser context (no cookies, no storage).

A missing Chromium or a missing build fails the tests with the command that fixes it; nothing
is skipped. Screenshots go to ``artifacts/screenshots/`` (git-ignored; CI collects it).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from pydantic import SecretStr
from redis.asyncio import Redis

from consumers.orchestrator.app import build_app as build_orchestrator
from consumers.projector.app import build_app as build_projector
from consumers.rule_engine.app import build_app as build_rule_engine
from infra.kafka import EventPublisher, ensure_topics, make_broker
from infra.settings import Settings
from infra.stack.standins import LocalServer
from producers.gateway import create_app
from producers.gateway._web import DEFAULT_DIST
from services import IdentityService
from tests._kafka import drop_topics, running
from tests.browser._pages import Shot, WebStack
from tests.integration._linking import identity_service

CHROMIUM = Path(os.environ.get("IXO_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = (
    # As on the project's machines (the machine notes of the team): no sandbox
    # as root, no GPU, and nothing that reaches out (the network is closed). Playwright adds
    # --headless and a fresh --user-data-dir of its own for every launch.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
USER = "alice"
OPERATOR = "ops"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def web_settings(stack_env: dict[str, str]) -> Iterator[Settings]:
    """Settings of the browser tests: their own topic prefix, groups and database."""
    run = uuid.uuid4().hex[:10]
    with tempfile.TemporaryDirectory(prefix="ixo-browser-") as tmp:
        made = Settings(
            kafka_bootstrap=stack_env["IXO_KAFKA_BOOTSTRAP"],
            mongodb_url=stack_env["IXO_MONGODB_URL"],
            redis_url=stack_env["IXO_REDIS_URL"],
            mongodb_database=f"ixo_web_{run}",
            topic_prefix=f"w{run}.",
            state_dir=Path(tmp) / "state",
            kafka_linger_ms=1,
            llm_base_url="",  # the offline assistant answers the chat
            llm_model="",
            gateway_cookie_secure=False,  # plain http on loopback
            webhook_allowed_networks="127.0.0.0/8,::1/128",
            secrets_keys=SecretStr(Fernet.generate_key().decode()),
        )
        yield made
        drop_topics(made)


@pytest.fixture(scope="session")
async def web_stack(web_settings: Settings) -> AsyncIterator[WebStack]:
    """Projector, rule engine, orchestrator and the gateway, with a user and an operator."""
    if not _built(DEFAULT_DIST):
        pytest.fail(f"the web app is not built ({DEFAULT_DIST} has no index.html): run `make web`")
    await ensure_topics(web_settings)
    broker = make_broker(web_settings, client_id="ixo-browser-tests")
    await broker.connect()
    publisher = EventPublisher(broker, web_settings)
    redis = Redis.from_url(web_settings.redis_url)
    try:
        async with identity_service(web_settings, publisher, redis) as identity:
            token = await _accounts(identity)
        async with (
            running(build_projector(web_settings)),
            running(build_rule_engine(web_settings)),
            running(build_orchestrator(web_settings)),
            LocalServer(create_app(web_settings), lifespan="on", name="gateway") as gateway,
        ):
            yield WebStack(gateway.url, web_settings, USER, PASSWORD, token, publisher)
    finally:
        await redis.aclose()
        await broker.stop()


async def _accounts(identity: IdentityService) -> str:
    """The user with a password; the operator's token (a password session is a user's)."""
    await identity.ensure_user(USER, "Alice")
    await identity.set_password(USER, PASSWORD)
    await identity.ensure_user(OPERATOR, "Operator")
    made = await identity.create_token(OPERATOR, ("user", "operator"), name="browser tests")
    return made.token


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _built(dist: Path) -> bool:
    return (dist / "index.html").is_file()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium; a test fails (never skips) when it is missing."""
    if not _executable(CHROMIUM):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run `make browser` "
            "(apt-get install chromium), or set IXO_TEST_CHROMIUM to a Chromium binary"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_FLAGS)
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser, web_stack: WebStack) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(base_url=web_stack.url, viewport=VIEWPORT)  # type: ignore[arg-type]
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def shot(screenshots: Path) -> Shot:
    """``await shot(page, "chat")`` saves ``artifacts/screenshots/chat.png`` (the full page)."""

    async def take(page: Page, name: str) -> None:
        await page.wait_for_load_state("load")
        await page.screenshot(
            path=str(screenshots / f"{name}.png"), full_page=True, animations="disabled"
        )

    return take
