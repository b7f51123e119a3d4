"""The notifier against real Kafka and Redis, the stand-in Telegram and Discord servers driving
the real aiogram and hikari clients, and a webhook receiver that verifies signatures.

The fixtures (stand-ins, webhook receiver, settings) are in conftest.py; the notifier's test
events and probes in _notify.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
import time

import pytest
from redis.asyncio import Redis

from consumers.notifier import (
    Notifier,
    RedisDirectory,
    RedisLedger,
    RedisParking,
    RedisRateLimiter,
    TelegramSender,
    telegram_bot,
)
from consumers.notifier.app import KafkaOutcomeSink, build_app, key_prefix
from consumers.projector import DeliveriesProjection, ProjectionStore
from infra.kafka import Delivery, EventPublisher
from infra.mongo import open_database
from infra.settings import Settings
from infra.stack.standins import DiscordStandin, TelegramStandin
from readmodels import READ_MODELS, ReadModels
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    NOTIFY_DELIVERIES,
    AnyEvent,
    Channel,
    NotificationDeliveredV1,
    NotificationFailedV1,
    codec_for,
)
from tests._kafka import eventually, read_topic, running
from tests.fakes import ManualClock, WebhookReceiver
from tests.integration._notify import (
    FAST,
    SECRET,
    alert_event,
    by_kind,
    outcome_count,
    outcomes,
    rule_event,
    subscription_event,
)

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
    await publisher.publish(subscription_event(hook, notify_settings))
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
    db = await open_database(notify_settings, documents=READ_MODELS)
    items = [
        Delivery(
            codec_for(NOTIFY_DELIVERIES).decode(r.value or b""), r.topic, r.partition, r.offset, 0
        )
        for r in await read_topic(notify_settings, NOTIFY_DELIVERIES)
    ]
    await ProjectionStore(db).apply(DeliveriesProjection(), items, topic=items[0].topic)
    docs = await ReadModels(db).deliveries(alert.data.match_id)
    assert {d.user_id for d in docs} == {"alice"}
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
    await publisher.publish(subscription_event(flaky, notify_settings))
    await publisher.publish(subscription_event(gone, notify_settings))
    await publisher.publish(rule)
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


class RecordingLimiter:
    """The real Redis rate limiter, keeping each of its decisions: (bucket, wait in s)."""

    def __init__(self, inner: RedisRateLimiter) -> None:
        self.inner = inner
        self.decisions: list[tuple[str, float]] = []

    async def reserve(self, bucket: str, rate_per_s: float, burst: int) -> float:
        wait = await self.inner.reserve(bucket, rate_per_s, burst)
        self.decisions.append((bucket, wait))
        return wait

    def waits(self, bucket: str) -> list[float]:
        return sorted(wait for b, wait in self.decisions if b == bucket)


async def test_per_user_rate_limit_delays_but_drops_nothing(
    notify_settings: Settings, publisher: EventPublisher, redis: Redis, telegram: TelegramStandin
) -> None:
    # 5 per second with a burst of 2; any wait over 0.1 s parks the job, so alice's delayed
    # deliveries never hold the batch (nor bob's alert). Time is the test's: no wall clock.
    clock = ManualClock(float(int(time.time())))
    start = clock.now
    config = dataclasses.replace(FAST, user_rate_per_s=5.0, user_burst=2, park_after_s=0.1)
    prefix = key_prefix(notify_settings)
    limiter = RecordingLimiter(RedisRateLimiter(redis, prefix, clock=clock))
    bot = TelegramSender(telegram_bot(telegram.token, telegram.url), timeout_s=2)
    notifier = Notifier(
        senders={"telegram": bot},
        ledger=RedisLedger(redis, prefix, lease_s=config.lease_s, ttl_s=3600),
        limiter=limiter,
        directory=RedisDirectory(redis, prefix),
        sink=KafkaOutcomeSink(publisher),
        parking=RedisParking(redis, prefix, ttl_s=3600, hide_s=60, clock=clock),
        config=config,
        clock=clock,
    )
    rule = rule_event([Channel(kind="telegram", target="42")])
    other = rule_event([Channel(kind="telegram", target="43")], user_id="bob")
    try:
        await notifier.on_rules(
            [Delivery(rule, ALERT_RULES.name, 0, 0, 0), Delivery(other, ALERT_RULES.name, 0, 1, 0)]
        )
        alerts = [Delivery(alert_event(rule), ALERT_MATCHES.name, 0, i, 0) for i in range(7)]
        alerts.append(Delivery(alert_event(other), ALERT_MATCHES.name, 0, 7, 0))
        await notifier.on_alerts(alerts)  # returns with alice's over-limit jobs parked

        # The limiter's decisions: a burst of 2 at once, then one slot every 0.2 s.
        assert limiter.waits("u:alice") == [0.0, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        assert limiter.waits("u:bob") == [0.0]  # another user's limit is not alice's
        assert len(telegram.texts(42)) == 2
        assert len(telegram.texts(43)) == 1, "another user's alert waited for alice's limit"

        # Each parked job comes back when the clock reaches its slot, one at a time.
        for step in range(1, 6):
            assert await notifier.resume_due() == 0, f"slot {step} was handed out early"
            clock.now = start + 0.2 * step + 0.05
            assert await notifier.resume_due() == 1

            async def sent(count: int = 2 + step) -> bool:
                return len(telegram.texts(42)) >= count

            await eventually(sent)
            assert len(telegram.texts(42)) == 2 + step
        clock.now = start + 10
        assert await notifier.resume_due() == 0
        found = await outcome_count(notify_settings, 8)
    finally:
        await notifier.stop_resuming()
        await bot.close()
    assert all(isinstance(e.data, NotificationDeliveredV1) for e in found)
    assert len(found) == 8
    assert len(telegram.texts(42)) == 7
    assert len(telegram.texts(43)) == 1
    assert len(limiter.decisions) == 8  # a resumed job keeps its reserved slot: no new wait


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
        # The record was not committed: another process gets it again (it waits for the
        # dead claim's lease to lapse, then publishes the decided outcome, never sending).
        await second.on_alerts([alert])
        await second.on_alerts([alert])  # and once more after it was done
    finally:
        await bot.close()
    assert len(telegram.texts(42)) == 1, "sent twice"
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
        await first.on_alerts([alert])  # 429: parked, the batch is done without waiting 2 s
        assert [c.status for c in telegram.calls_of("sendMessage")] == [429]
        assert await outcomes(notify_settings) == []
        # The first process is gone; the second resumes the job when it is due.
        resumer = asyncio.create_task(second.run_parked())
        try:
            found = await outcome_count(notify_settings, 1)
        finally:
            # Shutdown ends the loop without a cancellation (one can be swallowed inside it).
            await second.stop_resuming()
            await asyncio.wait_for(resumer, 10)
        await first.on_alerts([alert])  # a late redelivery changes nothing
    finally:
        await bot.close()
    calls = telegram.calls_of("sendMessage")
    assert calls[1].at - calls[0].at >= 2.0, "retry_after was not respected"
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
