"""The Telegram bot as `ixo run telegram-bot` runs it: the real aiogram client long-polls the
stand-in Telegram Bot API server; real Kafka, Redis and FerretDB behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from bots import BotConfigError, delivery_event_id, rule_id_for, run_telegram_bot
from consumers.projector.app import build_app
from infra.kafka import EventPublisher
from infra.settings import Settings
from infra.stack.standins import TelegramStandin
from schemas import (
    ALERT_RULES,
    CHAT_REQUESTS,
    USER_LINKS,
    ChatResponseCompletedV1,
    CloudEvent,
    MarketTickV1,
)
from services import IdentityService
from tests._kafka import events_on, eventually, publish, read_topic, running
from tests.integration._linking import identity_service
from tests.integration._telegram import CHAT, link_chat, reply_to, running_bot


@pytest.fixture
async def identity(
    settings: Settings, publisher: EventPublisher, redis: Redis
) -> AsyncIterator[IdentityService]:
    async with identity_service(settings, publisher, redis) as found:
        yield found


async def test_commands_become_events_and_the_user_sees_the_answers(
    bot_settings: Settings, telegram: TelegramStandin, identity: IdentityService
) -> None:
    tg = telegram
    bot_id = tg.bot_id
    async with running(build_app(bot_settings, ["prices", "rules"])), running_bot(bot_settings):
        # /start CODE links the Telegram account to the user the one-time code was issued to.
        update_id = await link_chat(tg, identity, "alice")
        links = await events_on(bot_settings, USER_LINKS)
        assert [e["id"] for e in links] == [delivery_event_id("telegram", f"{bot_id}:{update_id}")]
        assert links[0]["data"] == {
            "link_id": f"telegram:{CHAT}",
            "platform": "telegram",
            "platform_user_id": str(CHAT),
            "chat_id": str(CHAT),
            "user_id": "alice",
        }

        # /alert becomes a rule event with the id derived from the update.
        update_id, answer = await reply_to(tg, "/alert btcusdt above 70000")
        event_id = delivery_event_id("telegram", f"{bot_id}:{update_id}")
        rule_id = rule_id_for(event_id)
        assert answer.startswith(f"Alert {rule_id} set: BTCUSDT above 70000")
        rules = await events_on(bot_settings, ALERT_RULES)
        assert [e["type"] for e in rules] == ["ixo.alert.rule.created.v1"]
        assert rules[0]["correlationid"] == event_id
        assert rules[0]["data"]["rule_id"] == rule_id
        assert rules[0]["data"]["user_id"] == "alice"
        assert rules[0]["data"]["condition"] == {
            "kind": "above",
            "threshold": "70000",
            "window_s": None,
        }
        assert rules[0]["data"]["channels"] == [{"kind": "telegram", "target": str(CHAT)}]

        # Bad commands get a short usage message and publish nothing.
        _, answer = await reply_to(tg, "/alert BTCUSDT sideways 5")
        assert "'sideways' is not a condition" in answer
        assert "Usage: /alert" in answer
        _, answer = await reply_to(tg, "/frobnicate")
        assert "Unknown command" in answer
        assert len(await events_on(bot_settings, ALERT_RULES)) == 1

        # /price answers from the prices projection.
        _, answer = await reply_to(tg, "/price BTCUSDT")
        assert answer == "No price for BTCUSDT yet."
        tick = MarketTickV1.model_validate(
            {
                "symbol": "BTCUSDT",
                "price": "64123.5",
                "venue": "binance",
                "ts": "2026-11-24T10:00:00Z",
            }
        )
        await publish(bot_settings, CloudEvent.new(tick, source="/tests"))

        async def priced() -> str | None:
            _, text = await reply_to(tg, "/price btc/usdt")
            return text if "64123.5" in text else None

        assert await eventually(priced, timeout=20, interval=0.3) == (
            "BTCUSDT: 64123.5 (binance, 2026-11-24 10:00:00 UTC)"
        )

        # /alerts lists the rule once projected; /unalert deletes it.
        async def listed() -> str | None:
            _, text = await reply_to(tg, "/alerts")
            return text if rule_id in text else None

        listing = await eventually(listed, timeout=20, interval=0.3)
        assert listing is not None
        assert "BTCUSDT above 70000" in listing
        update_id, answer = await reply_to(tg, f"/unalert {rule_id}")
        assert answer == f"Alert {rule_id} deleted."
        rules = await events_on(bot_settings, ALERT_RULES)
        assert [e["type"] for e in rules][-1] == "ixo.alert.rule.deleted.v1"
        _, answer = await reply_to(tg, "/unalert r-doesnotexist")
        assert "You have no alert r-doesnotexist" in answer

        # Free text becomes a chat request; the agent's answer reaches the chat.
        before = len(tg.texts(CHAT))
        update = tg.push_message("how is BTC doing?", chat_id=CHAT)
        request_id = delivery_event_id("telegram", f"{bot_id}:{update['update_id']}")

        async def requested() -> list[dict[str, Any]]:
            return await events_on(bot_settings, CHAT_REQUESTS)

        requests = await eventually(requested, timeout=20)
        assert [e["id"] for e in requests] == [request_id]
        assert requests[0]["data"] == {
            "session_id": f"telegram:{CHAT}",
            "user_id": "alice",
            "channel": "telegram",
            "text": "how is BTC doing?",
        }
        assert len(tg.texts(CHAT)) == before  # no immediate reply to chat text
        answer_event = CloudEvent.new(
            ChatResponseCompletedV1(
                session_id=f"telegram:{CHAT}", request_id=request_id, text="BTC is at 64123.5."
            ),
            source="/tests",
        )
        other_platform = CloudEvent.new(
            ChatResponseCompletedV1(
                session_id="discord:1", request_id="x", text="not for telegram"
            ),
            source="/tests",
        )
        assert tg.calls_of("sendChatAction")[-1].params["chat_id"] in (CHAT, str(CHAT))
        tg.fail_retry_after(1, chat_id=CHAT)  # flood control: the bot waits and sends again
        await publish(bot_settings, other_platform, answer_event)
        await tg.wait_for(lambda: "BTC is at 64123.5." in tg.texts(CHAT), timeout=20)
        assert [c.status for c in tg.calls_of("sendMessage")][-2:] == [429, 200]
        assert "not for telegram" not in tg.texts()
        # A redelivered answer is not sent twice.
        await publish(bot_settings, answer_event)
        await asyncio.sleep(1.0)
        assert tg.texts(CHAT).count("BTC is at 64123.5.") == 1


async def test_a_refused_token_stops_the_bot_with_a_clear_error(
    bot_settings: Settings,
) -> None:
    wrong = bot_settings.model_copy(update={"telegram_token": SecretStr("999:wrong-token")})
    with pytest.raises(BotConfigError, match="401 Unauthorized"):
        await asyncio.wait_for(run_telegram_bot(wrong, stop=asyncio.Event()), 30)


async def test_an_update_delivered_twice_publishes_once(
    bot_settings: Settings, telegram: TelegramStandin, identity: IdentityService
) -> None:
    """A restart during long polling: Telegram hands the same updates to the new process."""
    tg = telegram
    async with running_bot(bot_settings):
        await link_chat(tg, identity, "alice")
    linked = len(tg.texts(CHAT))
    alert = tg.push_message("/alert ethusdt pct -5 4h", chat_id=CHAT, update_id=500)
    chat = tg.push_message("what about ETH?", chat_id=CHAT, update_id=501)
    async with running_bot(bot_settings):
        await tg.wait_for(lambda: len(tg.texts(CHAT)) == linked + 1, timeout=20)

        async def requested() -> list[Any]:
            return await read_topic(bot_settings, CHAT_REQUESTS)

        await eventually(requested, timeout=20)
    first_reply = tg.texts(CHAT)[linked]
    rule_id = rule_id_for(delivery_event_id("telegram", f"{tg.bot_id}:500"))
    assert first_reply.startswith(f"Alert {rule_id} set: ETHUSDT moves -5% within 4h")

    # The same updates again (their confirmation was lost), to a new bot process.
    tg.push_update(alert)
    tg.push_update(chat)
    async with running_bot(bot_settings):
        await tg.wait_for(lambda: len(tg.texts(CHAT)) == linked + 2, timeout=20)
    assert tg.texts(CHAT)[linked:] == [first_reply, first_reply]  # the stored reply, again
    rules = await events_on(bot_settings, ALERT_RULES)
    assert [(e["data"]["rule_id"], e["data"]["user_id"]) for e in rules] == [(rule_id, "alice")]
    requests = await events_on(bot_settings, CHAT_REQUESTS)
    assert [e["id"] for e in requests] == [delivery_event_id("telegram", f"{tg.bot_id}:501")]
    # Stopping confirmed every processed update.
    assert tg.calls_of("getUpdates")[-1].params.get("offset") in ("502", 502)


async def test_an_update_that_does_not_parse_is_skipped_and_the_others_are_answered(
    bot_settings: Settings, telegram: TelegramStandin
) -> None:
    """A getUpdates answer holding an update aiogram cannot read (here: a message without its
    chat) would fail the whole answer; the bot reads the updates one by one instead, answers the
    good ones around the bad one, confirms past it, and keeps polling."""
    tg = telegram
    tg.push_message("/help", chat_id=CHAT, update_id=700)
    tg.push_update({"update_id": 701, "message": {"weird": True}})
    tg.push_message("/help", chat_id=CHAT, update_id=702)
    async with running_bot(bot_settings):
        await tg.wait_for(lambda: len(tg.texts(CHAT)) == 2, timeout=20)
        tg.push_message("/help", chat_id=CHAT, update_id=703)  # still polling after it
        await tg.wait_for(lambda: len(tg.texts(CHAT)) == 3, timeout=20)
    assert all(text == tg.texts(CHAT)[0] for text in tg.texts(CHAT))
    assert tg.calls_of("getUpdates")[-1].params.get("offset") in ("704", 704)
