"""Backtesting through the gateway and the CLI, over ticks on the real Kafka."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from infra.kafka import EventPublisher, make_broker
from infra.settings import Settings
from schemas import ALERT_MATCHES, CloudEvent, MarketTickV1
from tests._cli import aixo
from tests._kafka import read_topic
from tests.integration.conftest import UserToken, bearer

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
PRICES = ["69000", "69500", "70000", "70500", "69800", "71000"]


async def publish_ticks(settings: Settings) -> None:
    producer = make_broker(settings)
    await producer.start()
    events = [
        CloudEvent.new(
            MarketTickV1(
                symbol="BTCUSDT", price=Decimal(p), venue="test", ts=T0 + timedelta(seconds=10 * i)
            ),
            source="/tests",
        )
        for i, p in enumerate(PRICES)
    ]
    await EventPublisher(producer, settings).publish_many(events)
    await producer.stop()


async def test_backtest_a_draft_over_history_through_http_and_cli(
    settings: Settings,
    settings_env: dict[str, str],
    gateway: httpx.AsyncClient,
    user_token: UserToken,
) -> None:
    gateway.headers.update(bearer(await user_token("alice")))
    await publish_ticks(settings)
    draft = {
        "symbol": "BTCUSDT",
        "condition": {"kind": "crosses_above", "threshold": "70000"},
        "repeat": True,
    }
    since = (T0 - timedelta(minutes=1)).isoformat()
    response = await gateway.post("/v1/rules/backtest", json={"rule": draft, "since": since})
    assert response.status_code == 200, response.text
    body = response.json()
    # 69500 -> 70000 crosses (inclusive), 69800 -> 71000 crosses again after re-arming.
    assert body["count"] == 2
    assert [m["alert"]["price"] for m in body["matches"]] == ["70000", "71000"]
    assert [m["alert"]["previous_price"] for m in body["matches"]] == ["69500", "69800"]
    assert all(m["reason"] for m in body["matches"])
    assert await read_topic(settings, ALERT_MATCHES) == []  # nothing published

    for invalid in (
        {"since": since},
        {"rule": draft, "rule_id": "r1", "since": since},
        {"rule": {**draft, "symbol": "btc$usd"}, "since": since},
        {"rule": draft, "since": "yesterday"},
        {"rule": {**draft, "user_id": "alice"}, "since": since},  # the user is the token's
    ):
        assert (await gateway.post("/v1/rules/backtest", json=invalid)).status_code == 422
    missing = await gateway.post("/v1/rules/backtest", json={"rule_id": "nope", "since": since})
    assert missing.status_code == 404

    done = await aixo(
        settings_env,
        "rules",
        "backtest",
        "--since",
        since,
        "--json",
        "--repeat",
        "BTCUSDT",
        "crosses_above",
        "70000",
    )
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    assert [m["alert"]["price"] for m in cli] == ["70000", "71000"]
    bad = await aixo(settings_env, "rules", "backtest", "--since", since, "BTCUSDT", "above")
    assert bad.returncode == 2
