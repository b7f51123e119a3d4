"""Each channel adapter against a real HTTP server: the real aiogram and hikari clients on the
stand-ins, httpx on a local receiver; their errors come out as retryable or rejected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from consumers.notifier import (
    DiscordSender,
    Job,
    RejectedDelivery,
    RetryableDelivery,
    TelegramSender,
    WebhookSender,
    telegram_bot,
    verify,
    webhook_client,
)
from infra.stack.standins import DiscordStandin, LocalServer, TelegramStandin, free_port
from schemas import AlertTriggeredV1, AnyEvent, Channel, CloudEvent, Condition, utc_now

SECRET = "ixosec_adapter_secret_0123"


def event() -> AnyEvent:
    data = AlertTriggeredV1(
        match_id="m1",
        rule_id="r1",
        user_id="alice",
        symbol="ETHUSDT",
        price=Decimal("3100"),
        condition=Condition(kind="crosses_above", threshold=Decimal(3000)),
        tick_id="t1",
        triggered_at=utc_now(),
    )
    return CloudEvent.new(data, source="/tests")


def job(kind: str, target: str, secret: str | None = None) -> Job:
    return Job(
        key="k",
        match_id="m1",
        user_id="alice",
        channel=Channel.model_validate({"kind": kind, "target": target}),
        event=event(),
        bucket="u:alice",
        rate_per_s=10,
        burst=10,
        secret=secret,
    )


async def test_telegram_errors_map_to_retry_or_reject() -> None:
    async with TelegramStandin() as tg:
        sender = TelegramSender(telegram_bot(tg.token, tg.url), timeout_s=2)
        try:
            await sender.send(job("telegram", "42"))
            assert "ETHUSDT crossed above 3000: now 3100" in tg.texts(42)[0]
            tg.fail_retry_after(7)
            with pytest.raises(RetryableDelivery) as retry:
                await sender.send(job("telegram", "42"))
            assert retry.value.retry_after == 7
            tg.server_error()
            with pytest.raises(RetryableDelivery):
                await sender.send(job("telegram", "42"))
            tg.block(9)
            with pytest.raises(RejectedDelivery, match="blocked"):
                await sender.send(job("telegram", "9"))
            with pytest.raises(RejectedDelivery, match="not a chat id"):
                await sender.send(job("telegram", "not-a-chat"))
        finally:
            await sender.close()
        await tg.stop()
    sender = TelegramSender(telegram_bot(tg.token, tg.url), timeout_s=2)
    try:
        with pytest.raises(RetryableDelivery):  # the API is down: retry later
            await sender.send(job("telegram", "42"))
    finally:
        await sender.close()


async def test_discord_long_rate_limits_come_back_with_their_retry_after() -> None:
    async with DiscordStandin() as dc:
        sender = DiscordSender(dc.token, dc.url, timeout_s=2, max_rate_limit_s=0.2)
        await sender.start()
        try:
            await sender.send(job("discord", "1234"))
            assert len(dc.contents(1234)) == 1
            dc.rate_limit(3.0)
            with pytest.raises(RetryableDelivery) as retry:
                await sender.send(job("discord", "1234"))
            assert retry.value.retry_after == pytest.approx(3.0)
            dc.missing(404)
            with pytest.raises(RejectedDelivery, match="404"):
                await sender.send(job("discord", "404"))
            with pytest.raises(RejectedDelivery, match="not a channel id"):
                await sender.send(job("discord", "#general"))
        finally:
            await sender.close()


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/{status}")
    async def answer(status: int, request: Request) -> Response:
        body = await request.body()
        seen.append({"body": body, "headers": dict(request.headers)})
        headers = {"retry-after": "4"} if status == 429 else {}
        if status == 302:
            headers = {"location": "/200"}
        return Response(status_code=status, headers=headers)

    async with LocalServer(app, name="webhook endpoint") as server:
        yield server.url, seen


async def test_webhook_statuses_map_to_retry_or_reject(
    hooks: tuple[str, list[dict[str, Any]]],
) -> None:
    base, seen = hooks
    sender = WebhookSender(webhook_client(timeout_s=2))
    try:
        await sender.send(job("webhook", f"{base}/200", SECRET))
        got = seen[-1]
        assert got["headers"]["content-type"].startswith("application/cloudevents+json")
        assert verify(SECRET, got["body"], got["headers"]["x-ixo-signature"])
        assert got["headers"]["x-ixo-event-id"]
        for status in (500, 503, 408):
            with pytest.raises(RetryableDelivery):
                await sender.send(job("webhook", f"{base}/{status}", SECRET))
        with pytest.raises(RetryableDelivery) as retry:
            await sender.send(job("webhook", f"{base}/429", SECRET))
        assert retry.value.retry_after == 4
        for status in (404, 410, 400, 401, 302):
            with pytest.raises(RejectedDelivery, match=str(status)):
                await sender.send(job("webhook", f"{base}/{status}", SECRET))
        with pytest.raises(RejectedDelivery, match="no subscription"):
            await sender.send(job("webhook", f"{base}/200"))
        with pytest.raises(RetryableDelivery):  # nothing listens there
            await sender.send(job("webhook", f"http://127.0.0.1:{free_port()}/x", SECRET))
    finally:
        await sender.close()
