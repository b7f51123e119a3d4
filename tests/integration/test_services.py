"""The service layer on the real stack: one symbol rule for every client, warnings instead of
silent rules that never fire, and backtests of saved rules read from the read model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from consumers.projector.app import build_app
from infra.kafka import EventPublisher, KafkaTickHistory
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from producers.gateway import create_app
from schemas import ALERT_RULES, CloudEvent, InvalidEvent, MarketTickV1
from services import NotFound, Services, parse_draft
from tests._kafka import events_on, eventually, publish, running
from tests.integration.conftest import UserToken, bearer

NOW = datetime.now(UTC).replace(microsecond=0)


def tick(symbol: str, seconds_ago: int, price: str) -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(
        symbol=symbol, price=Decimal(price), venue="test", ts=NOW - timedelta(seconds=seconds_ago)
    )
    return CloudEvent.new(data, source="/tests")


@pytest.fixture
async def services(settings: Settings, publisher: EventPublisher) -> AsyncIterator[Services]:
    client = mongo_client(settings)
    try:
        database = await open_database(settings, client)
        yield Services.build(
            publisher, database, settings, source="/tests", history=KafkaTickHistory(settings)
        )
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()


def draft(symbol: str, threshold: str = "70000", **extra: object) -> dict[str, object]:
    return {
        "user_id": "alice",
        "symbol": symbol,
        "condition": {"kind": "crosses_above", "threshold": threshold},
        **extra,
    }


async def test_rules_are_normalised_checked_and_backtested_from_the_read_model(
    settings: Settings, services: Services
) -> None:
    await publish(settings, tick("BTCUSDT", 30, "69000"), tick("BTCUSDT", 20, "70500"))
    async with running(build_app(settings)):

        async def priced() -> bool:
            return await services.prices.get("btc") is not None

        await eventually(priced)
        price = await services.prices.get("btc/usdt")
        assert price is not None
        assert (price.symbol, price.price) == ("BTCUSDT", "70500")

        # What people type is what the feeds publish: BTC is BTCUSDT, on every client.
        first = await services.rules.save(parse_draft(draft("btc")))
        assert first.event.data.symbol == "BTCUSDT"
        assert first.warnings == ()

        async def saved() -> bool:
            return await services.rules.get(first.entity_id or "") is not None

        await eventually(saved)
        # Accepted, but the user hears what would make the rule useless.
        again = await services.rules.save(parse_draft(draft("BTC")))
        assert again.warnings == (f"rule {first.entity_id} already alerts on BTCUSDT the same way",)
        # A chat channel must be one of the user's: refused unless linked (or vouched for by
        # the bot the command came from).
        to_chat = parse_draft(draft("doge", channels=[{"kind": "telegram", "target": "42"}]))
        with pytest.raises(InvalidEvent) as foreign:
            await services.rules.save(to_chat)
        assert foreign.value.field == "channels"
        assert "telegram:42 is not a chat linked to you" in str(foreign.value)
        nofeed = await services.rules.save(to_chat, trusted_chats={("telegram", "42")})
        assert nofeed.event.data.symbol == "DOGEUSDT"
        assert nofeed.warnings[0].startswith("no price for DOGEUSDT yet: no feed publishes it")
        assert "BTCUSDT" in nofeed.warnings[0]
        assert nofeed.warnings[1] == "no telegram bot is configured: that channel gets nothing"
        with pytest.raises(InvalidEvent) as bad:
            parse_draft(draft("btc$usd"))
        assert bad.value.field == "symbol"

        # A saved rule is backtested from the read model (the engine never ran here).
        since = NOW - timedelta(minutes=5)
        matches = await services.rules.backtest(first.entity_id or "", since=since)
        assert [(m.alert.price, m.alert.previous_price) for m in matches] == [
            (Decimal("70500"), Decimal("69000"))
        ]
        assert matches[0].alert.rule_id == first.entity_id
        same = await services.rules.backtest(parse_draft(draft("btc")), since=since)
        assert [m.alert.tick_id for m in same] == [m.alert.tick_id for m in matches]
        with pytest.raises(NotFound):
            await services.rules.backtest(first.entity_id or "", since=since, user_id="bob")

    published = await events_on(settings, ALERT_RULES)
    assert sorted(e["data"]["symbol"] for e in published) == ["BTCUSDT", "BTCUSDT", "DOGEUSDT"]


async def test_the_gateway_takes_the_same_route(
    settings: Settings, topics: None, user_token: UserToken
) -> None:
    app = create_app(settings)
    alice = bearer(await user_token("alice"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", headers=alice
        ) as http,
    ):
        body_draft = {k: v for k, v in draft("eth").items() if k != "user_id"}  # from the token
        created = await http.post("/v1/rules", json=body_draft)
        assert created.status_code == 202, created.text
        body = created.json()
        assert body["warnings"] == ["no price for ETHUSDT yet: no feed publishes it"]
        bad = await http.get("/v1/prices/btc$usd")
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "symbol"]
        gone = await http.delete("/v1/rules/nope")
        assert gone.status_code == 404
    published = await events_on(settings, ALERT_RULES)
    assert [
        (e["data"]["rule_id"], e["data"]["symbol"], e["data"]["user_id"]) for e in published
    ] == [(body["rule_id"], "ETHUSDT", "alice")]
