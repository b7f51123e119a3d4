"""The web app in headless Chromium against the real gateway and services (issue 14, item 1 and
the operator console of item 2): sign in, chat with a streamed answer and its tool call, create
a rule (backtested first) and see it listed, watch a tick arrive in the live tail through a
filter, requeue a dead letter after a dry run, trace a chat request across topics, and every
main screen rendering (a screenshot of each under artifacts/screenshots/)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiokafka.structs import ConsumerRecord
from playwright.async_api import Page, expect
from redis.asyncio import Redis

from consumers.projector.app import trace_index
from infra.kafka import DeadLetters
from schemas import (
    HEADER_ID,
    HEADER_REQUEUE_OF,
    HEADER_REQUEUED_FOR,
    MARKET_TICKS,
    CloudEvent,
    MarketTickV1,
)
from tests._kafka import eventually, headers_of, read_topic
from tests.browser._pages import (
    PASSWORD_FIELD,
    Shot,
    WebStack,
    publish_tick,
    sign_in,
    sign_in_operator,
)

USER_SCREENS = ("Chat", "Rules", "Alerts", "Prices", "Knowledge", "Chain")
OPERATOR_SCREENS = ("Topics", "Live tail", "Consumer lag", "Dead letters", "Replay", "Trace")


async def test_sign_in_with_a_password(page: Page, web_stack: WebStack, shot: Shot) -> None:
    await page.goto("/rules")  # a deep link: the app asks for sign-in first
    await expect(page.get_by_role("heading", name="Impressox")).to_be_visible()
    await shot(page, "signin")

    await page.get_by_label("User id").fill(web_stack.user)
    await page.get_by_label(PASSWORD_FIELD).fill("not the password")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_test_id("signin-error")).to_contain_text("wrong user id or password")

    await page.get_by_label(PASSWORD_FIELD).fill(web_stack.password)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_test_id("signed-in-as")).to_have_text("Alice")
    await expect(page.get_by_role("heading", name="Rules", exact=True)).to_be_visible()
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["ixo_session"]["httpOnly"] is True
    assert "ixo_csrf" in cookies
    # A user sees no operator console, and its screens say so when typed in.
    await expect(page.get_by_text("Operator console")).to_have_count(0)
    await page.goto("/ops/topics")
    await expect(page.get_by_role("heading", name="Operators only")).to_be_visible()


async def test_chat_streams_the_answer_with_its_tool_call(
    page: Page, web_stack: WebStack, shot: Shot
) -> None:
    await publish_tick(web_stack, "BTCUSDT", "64123.5")
    await sign_in(page, web_stack)
    await page.goto("/chat")
    await page.get_by_label("Message").fill("price BTC")
    await page.get_by_label("Message").press("Enter")

    answer = page.get_by_test_id("chat-answer").last
    await expect(answer).to_have_attribute("data-done", "true", timeout=30_000)
    await expect(answer).to_contain_text(re.compile(r"BTC"))
    await expect(page.get_by_test_id("chat-turn").last).to_contain_text("price BTC")
    tools = page.get_by_test_id("tool-calls").last
    await expect(tools).to_contain_text("get_price")
    await tools.get_by_role("button").first.click()  # open the call: arguments and result
    await expect(tools.get_by_test_id("json-view").first).to_contain_text("BTC")
    await expect(page.get_by_test_id("chat-live")).to_have_text("live")
    await shot(page, "chat")


async def test_create_a_rule_after_a_backtest_and_see_it_listed(
    page: Page, web_stack: WebStack, shot: Shot
) -> None:
    for price in ("69000", "71000", "69500", "72500"):
        await publish_tick(web_stack, "ETHUSDT", price)
    await sign_in(page, web_stack)
    await page.goto("/rules")
    await page.get_by_role("button", name="New rule").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Symbol").fill("ETH")
    await dialog.get_by_label(re.compile(r"^Price")).fill("70000")
    await dialog.get_by_role("button", name="Backtest").click()
    result = dialog.get_by_test_id("backtest-result")
    await expect(result).to_contain_text("It would have fired", timeout=30_000)
    await expect(result.get_by_test_id("price-chart")).to_be_visible()
    await shot(page, "rules-backtest")

    await dialog.get_by_role("button", name="Create rule").click()
    row = page.get_by_test_id("rule-row").filter(has_text="ETHUSDT")
    await expect(row).to_contain_text("price above 70,000", timeout=20_000)
    await shot(page, "rules")


async def test_live_tail_shows_a_tick_through_the_filters(
    page: Page, web_stack: WebStack, shot: Shot
) -> None:
    await sign_in_operator(page, web_stack)
    await page.goto("/ops/tail?topic=ixo.market.ticks")
    await page.get_by_label("Key contains").fill("SOLUSDT")
    await page.get_by_label("Data fields").fill("price>150")
    await expect(page.get_by_test_id("tail-filters")).to_have_text("key ~ SOLUSDT · price > 150")
    await expect(page.get_by_test_id("tail-status")).to_have_text("live", timeout=20_000)

    await publish_tick(web_stack, "SOLUSDT", "149.5")  # the key passes, the data filter not
    await publish_tick(web_stack, "BTCUSDT", "65000")  # another key
    await publish_tick(web_stack, "SOLUSDT", "151.25", venue="browser-test")
    counts = page.get_by_test_id("tail-counts")
    await expect(counts).to_have_text("3 seen · 1 shown", timeout=20_000)
    rows = page.get_by_test_id("tail-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("SOLUSDT")
    await expect(rows.first).to_contain_text("151.25")
    await page.get_by_label("Data fields").fill("")  # no data filter: both SOL ticks
    await expect(rows).to_have_count(2)
    await page.get_by_label("Data fields").fill("price>150")

    await rows.first.click()  # the JSON viewer
    viewer = page.get_by_role("dialog").get_by_test_id("json-view")
    await expect(viewer).to_contain_text('"venue": "browser-test"')
    await shot(page, "ops-tail")


async def test_every_user_screen_renders(page: Page, web_stack: WebStack, shot: Shot) -> None:
    await sign_in(page, web_stack)
    for name in USER_SCREENS:
        await page.get_by_role("navigation").get_by_role("link", name=name).click()
        await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        if name == "Prices":
            await expect(page.get_by_test_id("latest-price")).not_to_be_empty()
        if name not in ("Chat", "Rules"):  # those have their own screenshots, with content
            await shot(page, name.lower())
    # The chain screen: both panels render, whether their routes exist yet or not.
    await page.goto("/chain")
    await expect(page.get_by_role("heading", name="Your on-chain alerts")).to_be_visible()
    await expect(page.get_by_role("heading", name="Chain events")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_count(0)  # no error note
    # On a phone: the screens are behind the menu button.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto("/alerts")
    menu = page.get_by_role("button", name="Menu")
    await expect(menu).to_be_visible()
    await menu.click()
    await page.get_by_role("link", name="Rules").click()
    await expect(page.get_by_role("heading", name="Rules", exact=True)).to_be_visible()
    await shot(page, "phone-rules")


async def test_every_operator_screen_renders(page: Page, web_stack: WebStack, shot: Shot) -> None:
    await sign_in_operator(page, web_stack)
    for name in OPERATOR_SCREENS:
        await page.get_by_role("navigation").get_by_role("link", name=name).click()
        await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        if name == "Topics":
            table = page.get_by_test_id("topics-table")
            await expect(table).to_contain_text("ixo.market.ticks")
        await shot(page, "ops-" + name.lower().replace(" ", "-"))


async def _tick_record(stack: WebStack, event_id: str) -> ConsumerRecord[bytes, bytes]:
    """The record of event ``event_id`` on the ticks topic (once it is there)."""

    async def found() -> ConsumerRecord[bytes, bytes] | None:
        records = await read_topic(stack.settings, MARKET_TICKS)
        return next((r for r in records if headers_of(r).get(HEADER_ID) == event_id), None)

    return await eventually(found)


async def test_requeue_a_dead_letter_after_a_dry_run(
    page: Page, web_stack: WebStack, shot: Shot
) -> None:
    settings = web_stack.settings
    data = MarketTickV1(
        symbol="DLQUSDT", price=Decimal("1.5"), venue="dlq-test", ts=datetime.now(UTC)
    )
    tick = CloudEvent.new(data, source="/tests/browser")
    await web_stack.publisher.publish(tick, MARKET_TICKS)
    record = await _tick_record(web_stack, tick.id)
    # The prices projection failed it, as its consumer would dead-letter it.
    group = settings.group("ixo.projector.prices")
    letters = DeadLetters(web_stack.publisher, settings, group=group)
    await (await letters.send(MARKET_TICKS, record, "handler_failed", "price feed glitch"))

    await sign_in_operator(page, web_stack)
    await page.get_by_role("navigation").get_by_role("link", name="Dead letters").click()
    dlq = MARKET_TICKS.dlq.full_name(settings.topic_prefix)
    card = page.get_by_test_id("dlq-topic").filter(has_text=dlq)
    await expect(card).to_contain_text("1 record", timeout=20_000)
    await card.get_by_text("handler_failed: price feed glitch").click()
    await expect(card.get_by_test_id("dlq-record")).to_contain_text(group)

    def requeued(records: list[ConsumerRecord[bytes, bytes]]) -> list[dict[str, str]]:
        copies = [headers_of(r) for r in records]
        return [h for h in copies if HEADER_REQUEUE_OF in h and h.get(HEADER_ID) == tick.id]

    await card.get_by_role("button", name=re.compile(r"dry run first")).click()
    plan = card.get_by_test_id("dlq-plan")
    await expect(plan).to_contain_text("1 record would be republished")
    await expect(plan).to_contain_text(f"{group}: 1")
    assert requeued(await read_topic(settings, MARKET_TICKS)) == []  # a dry run sends nothing
    await shot(page, "ops-dlq-plan")

    await plan.get_by_role("button", name="Requeue 1 record").click()
    await expect(page.get_by_text(re.compile(r"1 record republished to"))).to_be_visible()

    async def republished() -> list[dict[str, str]]:
        return requeued(await read_topic(settings, MARKET_TICKS))

    copies = await eventually(republished)
    assert len(copies) == 1
    assert copies[0][HEADER_REQUEUED_FOR] == group
    # Asked again, there is nothing left to republish: that dead letter was requeued already.
    await card.get_by_role("button", name=re.compile(r"dry run first")).click()
    await expect(plan).to_contain_text("0 records would be republished")
    await expect(plan.get_by_role("button", name="Requeue 0 records")).to_be_disabled()


async def test_trace_a_chat_request_across_topics(
    page: Page, web_stack: WebStack, shot: Shot
) -> None:
    await publish_tick(web_stack, "BTCUSDT", "64200")
    await sign_in_operator(page, web_stack)  # an operator may chat too (the user scope)
    await page.goto("/chat")
    async with page.expect_response(
        lambda r: r.url.endswith("/v1/chat") and r.request.method == "POST"
    ) as sent:
        await page.get_by_label("Message").fill("price BTC")
        await page.get_by_label("Message").press("Enter")
    submitted: dict[str, Any] = await (await sent.value).json()
    # The request's event id is its correlation id (the part before a ``:``, as the chat does).
    request_id = str(submitted["request_id"]).split(":", 1)[0]
    answer = page.get_by_test_id("chat-answer").last
    await expect(answer).to_have_attribute("data-done", "true", timeout=30_000)

    # The projector's trace subscriber indexes the answer's events as it takes them.
    client = Redis.from_url(web_stack.settings.redis_url)
    try:

        async def indexed_on_two_topics() -> bool:
            found, _ = await trace_index(web_stack.settings, client).lookup(request_id, limit=100)
            return len({e.topic for e in found}) >= 2

        await eventually(indexed_on_two_topics)
    finally:
        await client.aclose()

    await page.get_by_role("navigation").get_by_role("link", name="Trace").click()
    await page.get_by_label("Correlation id").fill(request_id)
    await page.get_by_role("button", name="Trace", exact=True).click()
    timeline = page.get_by_test_id("trace-timeline")
    events = timeline.get_by_test_id("trace-event")
    summary = re.compile(r"\d+ events on ([2-9]|\d{2,}) topics")
    await expect(page.get_by_text(summary)).to_be_visible()
    await expect(events.first).to_contain_text("ixo.chat.requests")
    await expect(timeline).to_contain_text("ixo.chat.responses")
    await shot(page, "ops-trace-chat")
