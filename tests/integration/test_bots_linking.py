"""Chat accounts link only with a one-time code, and then act as that user and no other: the
real aiogram client long-polls the stand-in Telegram Bot API; the codes are issued by the
identity service as the gateway issues them; real Kafka, Redis and FerretDB behind it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bots import delivery_event_id, rule_id_for
from consumers.projector.app import build_app
from infra.kafka import EventPublisher
from infra.settings import Settings
from infra.stack.standins import TelegramStandin
from schemas import ALERT_RULES, CHAT_REQUESTS, SCHEDULES, USER_LINKS
from services import IdentityService
from tests._kafka import events_on, eventually, running
from tests.integration._linking import code_key, identity_service
from tests.integration._telegram import CHAT, link_chat, reply_to, running_bot

OTHER = 7002
"""A second person's private chat (another Telegram account)."""
LINK_FIRST = "Link this account first:"
REFUSED = "That link code is not valid"


@pytest.fixture
async def identity(
    settings: Settings, publisher: EventPublisher, redis: Redis
) -> AsyncIterator[IdentityService]:
    async with identity_service(settings, publisher, redis) as found:
        yield found


async def nothing_published(settings: Settings) -> bool:
    for topic in (USER_LINKS, ALERT_RULES, CHAT_REQUESTS, SCHEDULES):
        if await events_on(settings, topic):
            return False
    return True


async def test_an_account_links_only_with_a_valid_code(
    bot_settings: Settings, telegram: TelegramStandin, identity: IdentityService, redis: Redis
) -> None:
    tg, settings = telegram, bot_settings
    await identity.create_user("alice")
    async with running_bot(settings):
        # Not linked: /help and /price work; whatever acts for a user is refused.
        _, answer = await reply_to(tg, "/help")
        assert "/link CODE" in answer
        _, answer = await reply_to(tg, "/price BTCUSDT")
        assert answer == "No price for BTCUSDT yet."
        for text in (
            "/alert btcusdt above 70000",
            "/alerts",
            "/unalert r-abc",
            "/schedule every 1h digest",
            "/schedules",
            "how is BTC doing?",
        ):
            _, answer = await reply_to(tg, text)
            assert answer.startswith(LINK_FIRST), (text, answer)
            assert "POST /v1/me/link-codes" in answer
        # /start without a code says how to get one.
        _, answer = await reply_to(tg, "/start")
        assert "ask for a link code" in answer
        assert "linked to" not in answer
        # The old way, /start USER, links nobody: a user id is not a code.
        _, answer = await reply_to(tg, "/start alice")
        assert answer.startswith(REFUSED)

        # A forged code is refused.
        _, answer = await reply_to(tg, "/link ABCDEFGH")
        assert answer.startswith(REFUSED)
        # An expired code is refused: its key is made to expire for real.
        expiring = await identity.issue_link_code("alice")
        key = await code_key(settings, redis, expiring.code)
        assert await redis.pexpire(key, 1)

        async def gone() -> bool:
            return not await redis.exists(key)

        await eventually(gone)
        _, answer = await reply_to(tg, f"/link {expiring.code}")
        assert answer.startswith(REFUSED)
        assert await nothing_published(settings)

        # A valid code links the account to the code's user.
        code = await identity.issue_link_code("alice")
        update_id, answer = await reply_to(tg, f"/link {code.code.lower()}")
        assert answer.startswith("This account is now linked to Impressox user alice.")
        links = await events_on(settings, USER_LINKS)
        assert [e["id"] for e in links] == [
            delivery_event_id("telegram", f"{tg.bot_id}:{update_id}")
        ]
        assert links[0]["data"] == {
            "link_id": f"telegram:{CHAT}",
            "platform": "telegram",
            "platform_user_id": str(CHAT),
            "chat_id": str(CHAT),
            "user_id": "alice",
        }
        _, answer = await reply_to(tg, "/start")
        assert answer.startswith("This account is linked to Impressox user alice.")

        # The same code again, from another account: refused, that account stays unlinked.
        _, answer = await reply_to(tg, f"/start {code.code}", chat=OTHER)
        assert answer.startswith(REFUSED)
        _, answer = await reply_to(tg, "/alerts", chat=OTHER)
        assert answer.startswith(LINK_FIRST)
        assert len(await events_on(settings, USER_LINKS)) == 1
        assert await events_on(settings, ALERT_RULES) == []


async def test_linked_accounts_act_as_their_user_and_no_other(
    bot_settings: Settings, telegram: TelegramStandin, identity: IdentityService
) -> None:
    tg, settings = telegram, bot_settings
    async with running(build_app(settings, ["rules"])), running_bot(settings):
        await link_chat(tg, identity, "alice")
        await link_chat(tg, identity, "mallory", chat=OTHER)

        update_id, answer = await reply_to(tg, "/alert btcusdt above 70000")
        alice_rule = rule_id_for(delivery_event_id("telegram", f"{tg.bot_id}:{update_id}"))
        assert answer.startswith(f"Alert {alice_rule} set")
        update_id, answer = await reply_to(tg, "/alert ethusdt below 1000", chat=OTHER)
        mallory_rule = rule_id_for(delivery_event_id("telegram", f"{tg.bot_id}:{update_id}"))
        assert answer.startswith(f"Alert {mallory_rule} set")
        rules = await events_on(settings, ALERT_RULES)
        assert {(e["data"]["rule_id"], e["data"]["user_id"]) for e in rules} == {
            (alice_rule, "alice"),
            (mallory_rule, "mallory"),
        }

        # /alerts lists only the account's own rules (both are projected before the check).
        async def listing(chat: int, rule_id: str) -> str | None:
            _, text = await reply_to(tg, "/alerts", chat=chat)
            return text if rule_id in text else None

        mallorys = await eventually(lambda: listing(OTHER, mallory_rule), interval=0.3)
        assert mallorys is not None
        assert alice_rule not in mallorys
        alices = await eventually(lambda: listing(CHAT, alice_rule), interval=0.3)
        assert alices is not None
        assert "BTCUSDT above 70000" in alices
        assert mallory_rule not in alices
        assert "ETHUSDT" not in alices

        # Another user's rule cannot be deleted; chat text acts as the linked user too.
        _, answer = await reply_to(tg, f"/unalert {alice_rule}", chat=OTHER)
        assert answer == f"You have no alert {alice_rule}. /alerts lists yours."
        assert [e["type"] for e in await events_on(settings, ALERT_RULES)] == [
            "ixo.alert.rule.created.v1",
            "ixo.alert.rule.created.v1",
        ]
        tg.push_message("what about ETH?", chat_id=OTHER)

        async def requested() -> list[dict[str, object]]:
            return await events_on(settings, CHAT_REQUESTS)

        [request] = await eventually(requested)
        assert request["data"] == {
            "session_id": f"telegram:{OTHER}",
            "user_id": "mallory",
            "channel": "telegram",
            "text": "what about ETH?",
        }


async def test_too_many_wrong_codes_make_the_account_wait(
    bot_settings: Settings, telegram: TelegramStandin, identity: IdentityService
) -> None:
    tg, settings = telegram, bot_settings
    await identity.create_user("bob")
    async with running_bot(settings):
        for guess in ("AAAAAAAA", "BBBBBBBB", "CCCCCCCC", "DDDDDDDD", "EEEEEEEE"):
            _, answer = await reply_to(tg, f"/link {guess}")
            assert answer.startswith(REFUSED)
        # Even a valid code waits until the window ends; nothing is linked meanwhile.
        code = await identity.issue_link_code("bob")
        _, answer = await reply_to(tg, f"/link {code.code}")
        found = re.fullmatch(
            r"Too many wrong link codes from this account\. Try again in (\d+) minutes?\.", answer
        )
        assert found is not None, answer
        assert 1 <= int(found.group(1)) <= 15
        assert await events_on(settings, USER_LINKS) == []
        # Another account is not held back by this one's guesses.
        _, answer = await reply_to(tg, f"/link {code.code}", chat=OTHER)
        assert answer.startswith("This account is now linked to Impressox user bob.")
