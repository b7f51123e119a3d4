"""The notifier against real Kafka and Redis, the stand-in Telegram and Discord servers driving
the real aiogram and hikari clients, and a webhook receiver that verifies signatures.

The webhook receiver and the fixtures here are reused by test_notify_subscriptions.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from faststream import FastStream
from faststream.kafka import KafkaBroker
from pydantic import SecretStr
from redis.asyncio import Redis

from consumers.notifier import (
    Backoff,
    Notifier,
    NotifierConfig,
    RedisDirectory,
    RedisLedger,
    RedisParking,
    RedisRateLimiter,
    TelegramSender,
    telegram_bot,
    verify,
)
from consumers.notifier.app import KafkaOutcomeSink, build_app, key_prefix
from consumers.projector._deliveries import DeliveriesProjection, NotificationDelivery
from consumers.projector._store import ProjectionStore
from infra.kafka import Delivery, EventPublisher, make_broker
from infra.mongo import init_read_models
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    NOTIFY_DELIVERIES,
    AlertRuleCreatedV1,
    AlertTriggeredV1,
    AnyEvent,
    Channel,
    CloudEvent,
    Condition,
    NotificationDeliveredV1,
    NotificationFailedV1,
    SubscriptionCreatedV1,
    codec_for,
)
from tests._kafka import eventually, read_topic, wait_assigned
from tests.standins.discord import DiscordStandin
from tests.standins.telegram import TelegramStandin

SECRET = "ixosec_test_secret_0123456789"
FAST = NotifierConfig(
    lease_s=3.0,
    send_timeout_s=2.0,
    busy_poll_s=0.1,
    backoff=Backoff(base_s=0.05, max_s=0.4, jitter_s=0.05),
    max_attempts=4,
    user_rate_per_s=1000.0,
    user_burst=1000,
    rule_wait_s=2.0,
)


# -- a webhook receiver, as a customer would write one ----------------------------------------


@dataclass
class Received:
    path: str
    event_id: str
    body: bytes
    signature: str
    valid: bool
    at: float


@dataclass
class WebhookReceiver:
    """A real HTTP server on loopback: ``POST /<path>`` checks ``X-Ixo-Signature`` with the
    secret registered for the path (401 when it does not verify), records every request and
    answers 200, or what ``respond`` scripted."""

    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def respond(self, path: str, status: int, times: int = 1, **headers: str) -> None:
        self.script.setdefault(path, []).extend([(status, headers)] * times)

    def valid(self, path: str | None = None) -> list[Received]:
        return [r for r in self.received if r.valid and (path is None or r.path == path)]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path}")
        async def hook(path: str, request: Request) -> Response:
            body = await request.body()
            header = request.headers.get("x-ixo-signature", "")
            ok = verify(self.secrets.get(path, ""), body, header)
            self.received.append(
                Received(
                    path, request.headers.get("x-ixo-event-id", ""), body, header, ok, time.time()
                )
            )
            if not ok:
                return Response(status_code=401)
            queued = self.script.get(path)
            if queued:
                status, headers = queued.pop(0)
                return Response(status_code=status, headers=headers)
            return Response(status_code=200)

        return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(app: Any, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, lifespan="on", log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    try:
        await eventually(started, timeout=10)
        yield
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hooks = WebhookReceiver(port=free_port())
    async with serve(hooks.app(), hooks.port):
        yield hooks


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramStandin]:
    async with TelegramStandin() as tg:
        yield tg


@pytest.fixture
async def discord() -> AsyncIterator[DiscordStandin]:
    async with DiscordStandin() as dc:
        yield dc


@pytest.fixture
def notify_settings(
    settings: Settings, telegram: TelegramStandin, discord: DiscordStandin
) -> Settings:
    return settings.model_copy(
        update={
            "telegram_token": SecretStr(telegram.token),
            "telegram_api_url": telegram.url,
            "discord_token": SecretStr(discord.token),
            "discord_api_url": discord.url,
        }
    )


@pytest.fixture
async def publisher(notify_settings: Settings, topics: None) -> AsyncIterator[EventPublisher]:
    broker = make_broker(notify_settings, client_id="ixo-test")
    await broker.connect()
    try:
        yield EventPublisher(broker, notify_settings)
    finally:
        await broker.stop()


@pytest.fixture
async def redis(notify_settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(notify_settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def running(app: FastStream) -> AsyncIterator[FastStream]:
    await app.start()
    try:
        broker = app.broker
        assert isinstance(broker, KafkaBroker)
        await wait_assigned(broker)
        yield app
    finally:
        await app.stop()


# -- events -----------------------------------------------------------------------------------


def rule_event(
    channels: Iterable[Channel], *, user_id: str = "alice", rule_id: str | None = None
) -> AnyEvent:
    data = AlertRuleCreatedV1(
        rule_id=rule_id or f"r-{uuid.uuid4().hex[:8]}",
        user_id=user_id,
        symbol="BTCUSDT",
        condition=Condition(kind="above", threshold=Decimal(70000)),
        channels=tuple(channels),
    )
    return CloudEvent.new(data, source="/tests")


def alert_event(rule: AnyEvent, *, price: str = "70100.5") -> AnyEvent:
    data = AlertTriggeredV1(
        match_id=f"m-{uuid.uuid4().hex[:12]}",
        rule_id=rule.data.rule_id,
        user_id=rule.data.user_id,
        symbol="BTCUSDT",
        price=Decimal(price),
        condition=rule.data.condition,
        tick_id=uuid.uuid4().hex,
        triggered_at=datetime.now(UTC),
    )
    return CloudEvent.new(data, source="/tests")


def subscription_event(
    url: str, *, owner: str = "alice", types: tuple[str, ...] = ("ixo.alert.triggered.v1",)
) -> AnyEvent:
    data = SubscriptionCreatedV1.model_validate(
        {
            "subscription_id": f"s-{uuid.uuid4().hex[:8]}",
            "owner": owner,
            "url": url,
            "secret": SECRET,
            "event_types": types,
        }
    )
    return CloudEvent.new(data, source="/tests")


async def outcomes(settings: Settings) -> list[AnyEvent]:
    codec = codec_for(NOTIFY_DELIVERIES)
    return [codec.decode(r.value or b"") for r in await read_topic(settings, NOTIFY_DELIVERIES)]


async def outcome_count(settings: Settings, n: int) -> list[AnyEvent]:
    async def enough() -> list[AnyEvent] | None:
        found = await outcomes(settings)
        return found if len(found) >= n else None

    return await eventually(enough, timeout=30)


def by_kind(events: list[AnyEvent]) -> dict[tuple[str, str], AnyEvent]:
    out: dict[tuple[str, str], AnyEvent] = {}
    for e in events:
        key = (e.data.channel.kind, e.data.channel.target)
        assert key not in out, f"two outcomes for {key}"
        out[key] = e
    return out


# -- tests ------------------------------------------------------------------------------------


async def test_an_alert_reaches_each_channel_once_with_one_outcome_each(
    notify_settings: Settings,
    publisher: EventPublisher,
    telegram: TelegramStandin,
    discord: DiscordStandin,
    receiver: WebhookReceiver,
) -> None:
    receiver.secrets["alice"] = SECRET
    hook = receiver.url("alice")
    channels = [
        Channel(kind="telegram", target="42"),
        Channel(kind="discord", target="1234"),
        Channel(kind="webhook", target=hook),
    ]
    rule = rule_event(channels)
    await publisher.publish(subscription_event(hook))
    await publisher.publish(rule)
    alert = alert_event(rule)
    async with running(build_app(notify_settings, FAST)):
        await publisher.publish(alert)
        await publisher.publish(alert)  # the same record twice (a producer retry)
        found = await outcome_count(notify_settings, 3)
        await asyncio.sleep(0.5)  # nothing more may come
    found = await outcomes(notify_settings)
    assert len(found) == 3, [
        (e.id, e.data.match_id, e.data.channel, type(e.data).__name__) for e in found
    ]
    assert all(isinstance(e.data, NotificationDeliveredV1) for e in found)
    assert {e.data.match_id for e in found} == {alert.data.match_id}
    assert set(by_kind(found)) == {(c.kind, c.target) for c in channels}
    assert all(e.data.attempts == 1 and e.causationid == alert.id for e in found)
    assert len(telegram.texts(42)) == 1
    assert "BTCUSDT above 70000: now 70100.5" in telegram.texts(42)[0]
    assert len(discord.contents(1234)) == 1
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.valid
    assert got.event_id == alert.id
    assert json.loads(got.body)["data"]["match_id"] == alert.data.match_id

    # The deliveries projection folds them into one document per (match, channel).
    db = await init_read_models(notify_settings, documents=[NotificationDelivery])
    items = [
        Delivery(
            codec_for(NOTIFY_DELIVERIES).decode(r.value or b""), r.topic, r.partition, r.offset, 0
        )
        for r in await read_topic(notify_settings, NOTIFY_DELIVERIES)
    ]
    await ProjectionStore(db).apply(DeliveriesProjection(), items, topic=items[0].topic)
    docs = await NotificationDelivery.find(NotificationDelivery.user_id == "alice").to_list()
    assert sorted(d.channel["kind"] for d in docs) == ["discord", "telegram", "webhook"]
    assert {d.status for d in docs} == {"delivered"}


async def test_transient_errors_are_retried_and_permanent_ones_are_not(
    notify_settings: Settings,
    publisher: EventPublisher,
    telegram: TelegramStandin,
    discord: DiscordStandin,
    receiver: WebhookReceiver,
) -> None:
    receiver.secrets["flaky"] = SECRET
    receiver.secrets["gone"] = SECRET
    flaky, gone, unsigned = receiver.url("flaky"), receiver.url("gone"), receiver.url("nosub")
    telegram.fail_retry_after(1, chat_id=42)
    telegram.server_error(chat_id=42)
    telegram.block(7)
    telegram.chat_not_found(8)
    discord.rate_limit(0.5, channel_id=1234)
    discord.server_error(channel_id=1234)
    discord.forbid(5)
    receiver.respond("flaky", 503, **{"Retry-After": "1"})
    receiver.respond("gone", 410)
    channels = [
        Channel(kind="telegram", target="42"),
        Channel(kind="telegram", target="7"),
        Channel(kind="telegram", target="8"),
        Channel(kind="discord", target="1234"),
        Channel(kind="discord", target="5"),
        Channel(kind="webhook", target=flaky),
        Channel(kind="webhook", target=gone),
        Channel(kind="webhook", target=unsigned),
    ]
    rule = rule_event(channels)
    await publisher.publish(subscription_event(flaky))
    await publisher.publish(subscription_event(gone))
    await publisher.publish(rule)
    started = time.monotonic()
    async with running(build_app(notify_settings, FAST)):
        await publisher.publish(alert_event(rule))
        await outcome_count(notify_settings, len(channels))
        await asyncio.sleep(0.5)
    found = by_kind(await outcomes(notify_settings))
    assert len(found) == len(channels)

    tg42 = found["telegram", "42"]
    assert isinstance(tg42.data, NotificationDeliveredV1)
    assert tg42.data.attempts == 3  # 429 (retry_after 1 s honoured), 500, then delivered
    calls42 = [c for c in telegram.calls_of("sendMessage") if c.params["chat_id"] == "42"]
    assert [c.status for c in calls42] == [429, 500, 200]
    assert calls42[1].at - calls42[0].at >= 1.0, "retry_after was not respected"
    assert len(telegram.texts(42)) == 1

    for chat, reason in (("7", "blocked by the user"), ("8", "chat not found")):
        failed = found["telegram", chat]
        assert isinstance(failed.data, NotificationFailedV1)
        assert failed.data.attempts == 1
        assert reason in failed.data.error
        assert (
            len([c for c in telegram.calls_of("sendMessage") if c.params["chat_id"] == chat]) == 1
        )

    dc = found["discord", "1234"]
    assert isinstance(dc.data, NotificationDeliveredV1)
    assert [c.status for c in discord.calls_of("create_message") if "/1234/" in c.path] == [
        429,  # waited out by hikari from the 429's retry_after
        500,
        200,
    ]
    assert dc.data.attempts == 2
    forbidden = found["discord", "5"]
    assert isinstance(forbidden.data, NotificationFailedV1)
    assert "403" in forbidden.data.error
    assert forbidden.data.attempts == 1

    hook = found["webhook", flaky]
    assert isinstance(hook.data, NotificationDeliveredV1)
    assert hook.data.attempts == 2
    assert len(receiver.valid("flaky")) == 2
    assert receiver.valid("flaky")[1].at - receiver.valid("flaky")[0].at >= 1.0
    assert isinstance(found["webhook", gone].data, NotificationFailedV1)
    assert len(receiver.valid("gone")) == 1
    nosub = found["webhook", unsigned].data
    assert isinstance(nosub, NotificationFailedV1)
    assert "no subscription" in nosub.error
    assert not [r for r in receiver.received if r.path == "nosub"]
    assert time.monotonic() - started < 30


async def test_per_user_rate_limit_delays_but_drops_nothing(
    notify_settings: Settings, publisher: EventPublisher, telegram: TelegramStandin
) -> None:
    # Waits over 0.1 s are parked: alice's slow deliveries must not hold bob's batch.
    config = dataclasses.replace(FAST, user_rate_per_s=5.0, user_burst=2, park_after_s=0.1)
    rule = rule_event([Channel(kind="telegram", target="42")])
    other = rule_event([Channel(kind="telegram", target="43")], user_id="bob")
    await publisher.publish(rule)
    await publisher.publish(other)
    async with running(build_app(notify_settings, config)):
        for _ in range(7):
            await publisher.publish(alert_event(rule))
        await publisher.publish(alert_event(other))
        await outcome_count(notify_settings, 8)
    found = await outcomes(notify_settings)
    assert all(isinstance(e.data, NotificationDeliveredV1) for e in found)
    assert len(telegram.texts(42)) == 7
    assert len(telegram.texts(43)) == 1
    times = sorted(c.at for c in telegram.calls_of("sendMessage") if c.params["chat_id"] == "42")
    # A burst of 2, then one every 0.2 s: the 7th goes out no sooner than 1 s after the first.
    assert times[-1] - times[0] >= 0.95
    bob = next(c.at for c in telegram.calls_of("sendMessage") if c.params["chat_id"] == "43")
    assert bob - times[0] < 0.9, "another user's alert waited for alice's limit"


class Crash(BaseException):
    """Stands for the process dying at that point (nothing after it runs)."""


class CrashingSink:
    """Publishes like the real sink, but the process 'dies' before or after the publish."""

    def __init__(self, inner: KafkaOutcomeSink, *, after_publish: bool) -> None:
        self.inner = inner
        self.after = after_publish

    async def publish(self, event: AnyEvent) -> None:
        if self.after:
            await self.inner.publish(event)
        raise Crash


def core(
    settings: Settings,
    redis: Redis,
    publisher: EventPublisher,
    bot_sender: TelegramSender,
    *,
    parking: bool = False,
) -> tuple[Notifier, KafkaOutcomeSink]:
    prefix = key_prefix(settings)
    sink = KafkaOutcomeSink(publisher)
    notifier = Notifier(
        senders={"telegram": bot_sender},
        ledger=RedisLedger(redis, prefix, lease_s=FAST.lease_s, ttl_s=3600),
        limiter=RedisRateLimiter(redis, prefix),
        directory=RedisDirectory(redis, prefix),
        sink=sink,
        parking=RedisParking(redis, prefix, ttl_s=3600, hide_s=5) if parking else None,
        config=FAST,
    )
    return notifier, sink


@pytest.mark.parametrize("after_publish", [False, True], ids=["before-publish", "after-publish"])
async def test_crash_after_the_send_never_sends_twice(
    notify_settings: Settings,
    publisher: EventPublisher,
    redis: Redis,
    telegram: TelegramStandin,
    after_publish: bool,
) -> None:
    bot = TelegramSender(telegram_bot(telegram.token, telegram.url), timeout_s=2)
    try:
        first, sink = core(notify_settings, redis, publisher, bot)
        second, _ = core(notify_settings, redis, publisher, bot)
        rule = rule_event([Channel(kind="telegram", target="42")])
        await first.on_rules([Delivery(rule, ALERT_RULES.name, 0, 0, 0)])
        alert = Delivery(alert_event(rule), ALERT_MATCHES.name, 0, 0, 0)
        first._sink = CrashingSink(sink, after_publish=after_publish)  # the doomed process
        with pytest.raises(Crash):
            await first.on_alerts([alert])
        assert len(telegram.texts(42)) == 1
        # The record was not committed: another process gets it again.
        started = time.monotonic()
        await second.on_alerts([alert])
        await second.on_alerts([alert])  # and once more after it was done
    finally:
        await bot.close()
    assert len(telegram.texts(42)) == 1, "sent twice"
    assert time.monotonic() - started <= FAST.lease_s + 1.5  # waited for the dead claim's lease
    found = await outcomes(notify_settings)
    assert {e.id for e in found} == {found[0].id}, "two different outcome events"
    assert len({r.value for r in await read_topic(notify_settings, NOTIFY_DELIVERIES)}) == 1
    assert isinstance(found[0].data, NotificationDeliveredV1)
    assert found[0].data.attempts == 1
    # A crash after the publish leaves a copy with the same id and body (readers dedupe by id).
    assert len(found) == (2 if after_publish else 1)


async def test_a_parked_retry_survives_its_process_and_is_sent_once(
    notify_settings: Settings, publisher: EventPublisher, redis: Redis, telegram: TelegramStandin
) -> None:
    bot = TelegramSender(telegram_bot(telegram.token, telegram.url), timeout_s=2)
    try:
        first, _ = core(notify_settings, redis, publisher, bot, parking=True)
        second, _ = core(notify_settings, redis, publisher, bot, parking=True)
        rule = rule_event([Channel(kind="telegram", target="42")])
        await first.on_rules([Delivery(rule, ALERT_RULES.name, 0, 0, 0)])
        telegram.fail_retry_after(2, chat_id=42)
        alert = Delivery(alert_event(rule), ALERT_MATCHES.name, 0, 0, 0)
        started = time.monotonic()
        await first.on_alerts([alert])  # 429: parked, the batch is done at once
        assert time.monotonic() - started < 1.0
        assert await outcomes(notify_settings) == []
        # The first process is gone; the second resumes the job when it is due.
        resumer = asyncio.create_task(second.run_parked())
        try:
            found = await outcome_count(notify_settings, 1)
        finally:
            resumer.cancel()
            await second.stop_resuming()
        await first.on_alerts([alert])  # a late redelivery changes nothing
    finally:
        await bot.close()
    assert time.monotonic() - started >= 2.0, "retry_after was not respected"
    assert len(telegram.texts(42)) == 1
    assert [c.status for c in telegram.calls_of("sendMessage")] == [429, 200]
    assert len(await outcomes(notify_settings)) == 1
    assert isinstance(found[0].data, NotificationDeliveredV1)
    assert found[0].data.attempts == 2


WORKER = """
import asyncio, json, sys
from consumers.notifier import Backoff, NotifierConfig
from consumers.notifier.app import build_app
from infra.settings import Settings

async def main() -> None:
    cfg = json.loads(sys.argv[1])
    cfg["backoff"] = Backoff(**cfg["backoff"])
    app = build_app(Settings(), NotifierConfig(**cfg))
    await app.start()
    print("started", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_killed_mid_delivery_then_redelivered_sends_once(
    notify_settings: Settings, publisher: EventPublisher, telegram: TelegramStandin
) -> None:
    rule = rule_event([Channel(kind="telegram", target="42")])
    alert = alert_event(rule)
    await publisher.publish(rule)
    await publisher.publish(alert)
    telegram.fail_retry_after(30, chat_id=42)  # the first process will sleep on this, then die
    s = notify_settings
    env = {
        **os.environ,
        "IXO_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "IXO_REDIS_URL": s.redis_url,
        "IXO_MONGODB_URL": s.mongodb_url,
        "IXO_TOPIC_PREFIX": s.topic_prefix,
        "IXO_TELEGRAM_TOKEN": telegram.token,
        "IXO_TELEGRAM_API_URL": telegram.url,
        "IXO_LOG_LEVEL": "WARNING",
    }
    config = {
        "lease_s": FAST.lease_s,
        "send_timeout_s": FAST.send_timeout_s,
        "busy_poll_s": 0.1,
        "backoff": {"base_s": 0.05, "max_s": 0.4, "jitter_s": 0.05},
        "max_attempts": 4,
        "park_after_s": 60,  # waits inline, so the record stays uncommitted
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        json.dumps(config),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await telegram.wait_for(lambda: telegram.calls_of("sendMessage"), timeout=40)
    finally:
        proc.send_signal(signal.SIGKILL)  # dies while waiting out the 429
        await asyncio.wait_for(proc.wait(), timeout=10)
    assert telegram.texts(42) == []
    async with running(build_app(notify_settings, FAST)):
        found = await outcome_count(notify_settings, 1)
        await asyncio.sleep(0.5)
    assert len(telegram.texts(42)) == 1
    found = await outcomes(notify_settings)
    assert len(found) == 1
    assert isinstance(found[0].data, NotificationDeliveredV1)
    assert found[0].data.attempts == 2  # the dead process's attempt counts
    assert found[0].data.match_id == alert.data.match_id
