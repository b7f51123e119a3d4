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
)
from infra.net import OutboundGuard, guarded_client, parse_networks
from infra.secrets import SecretBox, new_key
from infra.stack.standins import DiscordStandin, LocalServer, TelegramStandin, free_port
from schemas import (
    AlertTriggeredV1,
    AnyEvent,
    Channel,
    ChannelKind,
    CloudEvent,
    Condition,
    utc_now,
)

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


def job(kind: ChannelKind, target: str, secret: str | None = None) -> Job:
    return Job(
        key="k",
        match_id="m1",
        user_id="alice",
        # Unvalidated: the adapters' own checks are under test (events older than the schema's).
        channel=Channel.model_construct(kind=kind, target=target),
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

    @app.post("/go")
    async def redirect(to: str, request: Request, code: int = 302) -> Response:
        seen.append({"body": await request.body(), "headers": dict(request.headers)})
        return Response(status_code=code, headers={"location": to})

    @app.post("/loop")
    async def loop(request: Request) -> Response:
        seen.append({"body": await request.body(), "headers": dict(request.headers)})
        return Response(status_code=307, headers={"location": "/loop"})

    @app.post("/{status}")
    async def answer(status: int, request: Request) -> Response:
        body = await request.body()
        seen.append({"body": body, "headers": dict(request.headers)})
        headers = {"retry-after": "4"} if status == 429 else {}
        return Response(status_code=status, headers=headers)

    async with LocalServer(app, name="webhook endpoint") as server:
        yield server.url, seen


def sender_for(allowed: str) -> tuple[WebhookSender, SecretBox]:
    """The notifier's webhook sender with a guard allowing ``allowed`` and a fresh key."""
    guard = OutboundGuard(parse_networks(allowed))
    box = SecretBox([new_key()])
    return WebhookSender(guarded_client(guard, timeout_s=2), guard=guard, decrypt=box.decrypt), box


async def test_webhook_statuses_map_to_retry_or_reject(
    hooks: tuple[str, list[dict[str, Any]]],
) -> None:
    base, seen = hooks
    sender, box = sender_for("127.0.0.0/8")
    token = box.encrypt(SECRET)
    try:
        await sender.send(job("webhook", f"{base}/200", token))
        got = seen[-1]
        assert got["headers"]["content-type"].startswith("application/cloudevents+json")
        assert verify(SECRET, got["body"], got["headers"]["x-ixo-signature"])
        assert SECRET not in got["body"].decode()
        assert got["headers"]["x-ixo-event-id"]
        for status in (500, 503, 408):
            with pytest.raises(RetryableDelivery):
                await sender.send(job("webhook", f"{base}/{status}", token))
        with pytest.raises(RetryableDelivery) as retry:
            await sender.send(job("webhook", f"{base}/429", token))
        assert retry.value.retry_after == 4
        for status in (404, 410, 400, 401):
            with pytest.raises(RejectedDelivery, match=str(status)):
                await sender.send(job("webhook", f"{base}/{status}", token))
        with pytest.raises(RejectedDelivery, match="no subscription"):
            await sender.send(job("webhook", f"{base}/200"))
        with pytest.raises(RejectedDelivery, match="cannot be decrypted"):
            await sender.send(job("webhook", f"{base}/200", SecretBox([new_key()]).encrypt("x")))
        with pytest.raises(RetryableDelivery) as refused:  # nothing listens there
            await sender.send(job("webhook", f"http://127.0.0.1:{free_port()}/x", token))
        assert str(refused.value) == "webhook: connection failed"
    finally:
        await sender.close()


async def test_webhook_redirects_are_followed_only_to_allowed_targets(
    hooks: tuple[str, list[dict[str, Any]]],
) -> None:
    base, seen = hooks
    port = base.rsplit(":", 1)[1]
    sender, box = sender_for("127.0.0.1/32")  # this receiver only, not the rest of loopback
    token = box.encrypt(SECRET)
    try:
        # A redirect to an allowed target is POSTed again, same signed body.
        for code in (301, 302, 307, 308):
            before = len(seen)
            await sender.send(job("webhook", f"{base}/go?to=/200&code={code}", token))
            assert len(seen) == before + 2
            assert seen[-1]["body"] == seen[-2]["body"]
            assert verify(SECRET, seen[-1]["body"], seen[-1]["headers"]["x-ixo-signature"])
        # A redirect to a refused address fails for good, saying nothing about the address.
        for target in (
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            f"http://127.0.0.2:{port}/200",  # loopback, but not the allowed /32
            f"http://[::1]:{port}/200",
            f"http://[::ffff:10.0.0.1]:{port}/200",
            f"http://0.0.0.0:{port}/200",
            "gopher://example.test/",
        ):
            before = len(seen)
            with pytest.raises(RejectedDelivery) as refused:
                await sender.send(job("webhook", f"{base}/go?to={target}", token))
            assert str(refused.value) == "webhook target not allowed", target
            assert len(seen) == before + 1, target  # the first hop only
        # A target refused from the start is never contacted.
        with pytest.raises(RejectedDelivery, match=r"^webhook target not allowed$"):
            await sender.send(job("webhook", f"http://127.0.0.2:{port}/200", token))
        # Redirect loops end after three hops.
        before = len(seen)
        with pytest.raises(RejectedDelivery, match="more than 3 redirects"):
            await sender.send(job("webhook", f"{base}/loop", token))
        assert len(seen) - before == 4
    finally:
        await sender.close()
