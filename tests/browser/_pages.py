"""What the browser tests share: the running stack's handles, signing in as a person does,
publishing a tick, and the screenshot callable."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from playwright.async_api import Page

from infra.kafka import EventPublisher
from infra.settings import Settings
from schemas import MARKET_TICKS, CloudEvent, MarketTickV1

PASSWORD_FIELD = re.compile(r"^Password")
"""The password input (its label ends with the required mark)."""
TOKEN_FIELD = re.compile(r"^API token")

Shot = Callable[[Page, str], Awaitable[None]]
"""``await shot(page, "chat")`` saves ``artifacts/screenshots/chat.png``."""


@dataclass(frozen=True)
class WebStack:
    """The running services and who may sign in."""

    url: str
    settings: Settings
    user: str
    password: str
    operator_token: str
    publisher: EventPublisher


async def sign_in(page: Page, stack: WebStack) -> None:
    """Sign in as the user with the password form, as a person does."""
    await page.goto("/")
    await page.get_by_label("User id").fill(stack.user)
    await page.get_by_label(PASSWORD_FIELD).fill(stack.password)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.get_by_test_id("signed-in-as").wait_for()


async def sign_in_operator(page: Page, stack: WebStack) -> None:
    """Sign in with the operator's API token (the token tab of the sign-in page)."""
    await page.goto("/")
    await page.get_by_role("tab", name="With an API token").click()
    await page.get_by_label(TOKEN_FIELD).fill(stack.operator_token)
    await page.get_by_role("button", name="Sign in with the token").click()
    await page.get_by_text("Operator console").wait_for()


async def publish_tick(stack: WebStack, symbol: str, price: str, *, venue: str = "test") -> None:
    """A market tick, as a feed publishes it (dated now)."""
    data = MarketTickV1(symbol=symbol, price=Decimal(price), venue=venue, ts=datetime.now(UTC))
    await stack.publisher.publish(CloudEvent.new(data, source="/tests/browser"), MARKET_TICKS)
