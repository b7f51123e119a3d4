"""The bots' command language, ids, sessions and reply texts: pure functions, no services."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from nacl.signing import SigningKey

import bots
from bots import (
    AlertCreate,
    AlertDelete,
    AlertList,
    BadCommand,
    ChatText,
    HelpRequest,
    Origin,
    PriceQuery,
    StartLink,
    command_from_options,
    delivery_event_id,
    event_id_of,
    parse_command,
    parse_session,
    rule_id_for,
    session_id,
    verify_request,
)
from bots._replies import (
    describe_condition,
    how_to_link_text,
    link_first_text,
    price_text,
    split_text,
    wait_text,
)
from bots._types import PriceView
from schemas import Condition


def test_public_api_is_what_all_says() -> None:
    assert sorted(bots.__all__) == sorted(set(bots.__all__))
    for name in bots.__all__:
        assert hasattr(bots, name), name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/price BTCUSDT", PriceQuery("BTCUSDT")),
        ("/price btc/usdt", PriceQuery("BTCUSDT")),
        ("/price@impressox_bot eth-usdt", PriceQuery("ETHUSDT")),
        (
            "/alert btcusdt above 70000",
            AlertCreate("BTCUSDT", Condition(kind="above", threshold=Decimal(70000))),
        ),
        (
            "/alert BTCUSDT below $64,000.5",
            AlertCreate("BTCUSDT", Condition(kind="below", threshold=Decimal("64000.5"))),
        ),
        (
            "/alert ETHUSDT crosses-above 3500",
            AlertCreate("ETHUSDT", Condition(kind="crosses_above", threshold=Decimal(3500))),
        ),
        (
            "/alert ETHUSDT crosses_below 3000",
            AlertCreate("ETHUSDT", Condition(kind="crosses_below", threshold=Decimal(3000))),
        ),
        (
            "/alert ETHUSDT pct -5% 4h",
            AlertCreate(
                "ETHUSDT",
                Condition(kind="pct_change", threshold=Decimal(-5), window_s=4 * 3600),
            ),
        ),
        (
            "/alert SOLUSDT pct 2.5",
            AlertCreate(
                "SOLUSDT", Condition(kind="pct_change", threshold=Decimal("2.5"), window_s=3600)
            ),
        ),
        ("/alerts", AlertList()),
        ("/unalert r-abc123", AlertDelete("r-abc123")),
        ("/start", StartLink(None)),
        ("/start K7M2Q9XA", StartLink("K7M2Q9XA")),
        ("/link k7m2q9xa", StartLink("k7m2q9xa")),
        ("/link@impressox_bot K7M2Q9XA", StartLink("K7M2Q9XA")),
        ("/help", HelpRequest()),
        ("/ask what is BTC doing?", ChatText("what is BTC doing?")),
        ("  how is the market today?  ", ChatText("how is the market today?")),
    ],
)
def test_good_commands_parse(text: str, expected: object) -> None:
    assert parse_command(text) == expected


def test_symbols_are_what_the_feeds_publish() -> None:
    """``BTC`` is ``BTCUSDT`` in the bots as in the chat agent and the gateway (one
    normalisation: a rule on ``BTC`` would never fire)."""
    assert parse_command("/price btc") == PriceQuery("BTCUSDT")
    created = parse_command("/alert BTC above 80000")
    assert isinstance(created, AlertCreate)
    assert created.symbol == "BTCUSDT"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/price", "Usage: /price"),
        ("/price BTC USDT", "Usage: /price"),
        ("/price $$$", "is not a symbol"),
        ("/alert BTCUSDT sideways 5", "'sideways' is not a condition"),
        ("/alert BTCUSDT above lots", "'lots' is not a price"),
        ("/alert BTCUSDT above -5", "positive price"),
        ("/alert BTCUSDT above 70000 1h", "window applies to pct alerts only"),
        ("/alert BTCUSDT pct 0", "must not be 0"),
        ("/alert BTCUSDT pct 5 soon", "'soon' is not a window"),
        ("/alert BTCUSDT pct 5 30d", "less than or equal"),
        ("/alert BTCUSDT", "Usage: /alert"),
        ("/unalert", "Usage: /unalert"),
        ("/unalert a/b", "not a valid alert id"),
        ("/start two words", "Usage: /start"),
        ("/link", "Usage: /link"),
        ("/link K7M2 Q9XA", "Usage: /link"),
        ("/link a/b", "not a valid link code"),
        ("/ask", "Usage: /ask"),
        ("/frobnicate", "Unknown command /frobnicate"),
        ("", "Commands:"),
        ("x" * 5000, "too long"),
    ],
)
def test_bad_commands_get_a_short_usage(text: str, says: str) -> None:
    command = parse_command(text)
    assert isinstance(command, BadCommand)
    assert says in command.message
    assert len(command.message) < 1000


def test_discord_options_parse_like_the_text_commands() -> None:
    assert command_from_options(
        "alert", {"symbol": "btcusdt", "condition": "pct", "value": "-3", "window": "30m"}
    ) == AlertCreate("BTCUSDT", Condition(kind="pct_change", threshold=Decimal(-3), window_s=1800))
    assert command_from_options("price", {"symbol": "ethusdt"}) == PriceQuery("ETHUSDT")
    assert command_from_options("price", {"symbol": "eth"}) == PriceQuery("ETHUSDT")
    assert command_from_options("ask", {"text": "hello there"}) == ChatText("hello there")
    assert command_from_options("start", {}) == StartLink(None)
    assert command_from_options("start", {"code": " K7M2Q9XA "}) == StartLink("K7M2Q9XA")
    assert command_from_options("link", {"code": "K7M2Q9XA"}) == StartLink("K7M2Q9XA")
    assert isinstance(command_from_options("link", {}), BadCommand)
    bad = command_from_options("alert", {"symbol": "BTCUSDT", "condition": "above", "value": "x"})
    assert isinstance(bad, BadCommand)
    assert "Usage: /alert" in bad.message


def test_ids_derive_from_the_platform_delivery() -> None:
    origin = Origin("telegram", "7", "7", "123456:42")
    again = Origin("telegram", "7", "7", "123456:42")
    other = Origin("telegram", "7", "7", "123456:43")
    assert event_id_of(origin) == event_id_of(again) == delivery_event_id("telegram", "123456:42")
    assert event_id_of(origin) != event_id_of(other)
    assert delivery_event_id("discord", "42") != delivery_event_id("telegram", "42")
    rule_id = rule_id_for(event_id_of(origin))
    assert rule_id == rule_id_for(event_id_of(again))
    assert rule_id != rule_id_for(event_id_of(other))
    assert rule_id.startswith("r-")
    assert len(rule_id) == 14
    assert parse_command(f"/unalert {rule_id}") == AlertDelete(rule_id)


def test_sessions_name_the_platform_and_chat() -> None:
    assert session_id("telegram", "-100123") == "telegram:-100123"
    assert parse_session("telegram:-100123") == ("telegram", "-100123")
    assert parse_session("discord:998877") == ("discord", "998877")
    assert parse_session("web-session-1") is None
    assert parse_session("web:abc") is None
    assert parse_session("telegram:") is None


def test_reply_texts() -> None:
    assert describe_condition(Condition(kind="above", threshold=Decimal("70000.50"))) == (
        "above 70000.5"
    )
    assert (
        describe_condition({"kind": "pct_change", "threshold": "5", "window_s": 5400})
        == "moves +5% within 90m"
    )
    ts = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert price_text("BTCUSDT", PriceView("BTCUSDT", "64123.5", "binance", ts)) == (
        "BTCUSDT: 64123.5 (binance, 2026-11-24 10:00:00 UTC)"
    )
    assert price_text("NOPEUSDT", None) == "No price for NOPEUSDT yet."
    long = "\n".join(f"line {i}" for i in range(1000))
    parts = split_text(long, 100)
    assert all(len(p) <= 100 for p in parts)
    assert "\n".join(parts) == long
    assert split_text("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]


def test_link_texts_say_how_to_get_a_code_and_how_long_to_wait() -> None:
    assert "POST /v1/me/link-codes" in how_to_link_text()
    assert "/link CODE" in how_to_link_text()
    assert how_to_link_text("alice").startswith("This account is linked to Impressox user alice.")
    assert link_first_text().startswith("Link this account first: Sign in")
    assert wait_text(1).endswith("Try again in 1 minute.")
    assert wait_text(60).endswith("Try again in 1 minute.")
    assert wait_text(61).endswith("Try again in 2 minutes.")
    assert wait_text(900).endswith("Try again in 15 minutes.")


def test_discord_signature_verification() -> None:
    key = SigningKey.generate()
    body = b'{"type":1}'
    now = time.time()
    ts = str(int(now))
    good = key.sign(ts.encode() + body).signature.hex()
    verify = key.verify_key
    assert verify_request(verify, good, ts, body, now=now) is None
    assert verify_request(verify, good, ts, body + b" ", now=now) == "invalid request signature"
    other = SigningKey.generate().sign(ts.encode() + body).signature.hex()
    assert verify_request(verify, other, ts, body, now=now) == "invalid request signature"
    assert verify_request(verify, None, ts, body, now=now) == "missing signature headers"
    assert verify_request(verify, "zz", ts, body, now=now) == "malformed signature headers"
    assert verify_request(verify, good[:10], ts, body, now=now) == "invalid request signature"
    assert verify_request(verify, good, ts, body, now=now + 3600) == "stale timestamp"


def test_bots_refuse_to_start_without_their_credentials() -> None:
    from pydantic import SecretStr

    from bots import BotConfigError, DiscordBot, TelegramBot
    from infra.settings import Settings

    with pytest.raises(BotConfigError, match="IXO_TELEGRAM_TOKEN is not set"):
        TelegramBot(Settings(telegram_token=SecretStr("")))
    with pytest.raises(BotConfigError, match="not a Telegram bot token"):
        TelegramBot(Settings(telegram_token=SecretStr("no colon here")))
    with pytest.raises(BotConfigError, match="IXO_DISCORD_TOKEN is not set"):
        DiscordBot(Settings(discord_token=SecretStr("")))
    with pytest.raises(BotConfigError, match="IXO_DISCORD_PUBLIC_KEY"):
        DiscordBot(Settings(discord_token=SecretStr("t"), discord_public_key="not-hex"))
