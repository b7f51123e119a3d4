"""FastStream wiring of the notifier: ``build_app(settings)``; ``ixo run notifier`` runs it;
``faststream docs gen --factory consumers.notifier.app:build_app`` writes its AsyncAPI document.

Consumer groups (prefixed): ``ixo.notifier.rules`` and ``ixo.notifier.subscriptions`` fold the
compacted topics into the Redis directory; ``ixo.notifier.alerts`` delivers alerts to their
rules' channels; ``ixo.notifier.webhooks.<topic>`` delivers each subscribable topic's events
to subscriptions. A background task resumes parked deliveries (long rate-limit or retry waits)
when due. Any number of notifier processes share the work (all state is in Redis).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from faststream import FastStream
from redis.asyncio import Redis

from consumers.notifier._discord import DiscordSender
from consumers.notifier._notifier import Notifier, NotifierConfig
from consumers.notifier._rebuild import NotifierRebuildSummary, rebuild
from consumers.notifier._redis import (
    RedisDirectory,
    RedisLedger,
    RedisParking,
    RedisRateLimiter,
)
from consumers.notifier._telegram import TelegramSender, telegram_bot
from consumers.notifier._types import Sender
from consumers.notifier._webhook import USER_AGENT, WebhookSender
from infra.kafka import Delivery, EventPublisher, KafkaLog, make_broker, subscribe
from infra.net import OutboundGuard, guarded_client
from infra.redis import StateEpoch
from infra.redis import key_prefix as _key_prefix
from infra.redis import redis_client as _redis_client
from infra.secrets import secret_box
from infra.settings import Settings, get_settings
from schemas import ALERT_MATCHES, ALERT_RULES, NOTIFY_DELIVERIES, NOTIFY_SUBSCRIPTIONS, AnyEvent

log = logging.getLogger(__name__)

GROUP_RULES = "ixo.notifier.rules"
GROUP_SUBSCRIPTIONS = "ixo.notifier.subscriptions"
GROUP_ALERTS = "ixo.notifier.alerts"
GROUP_WEBHOOKS = "ixo.notifier.webhooks."
REDIS_COMPONENT = "notify"
REDIS_CONNECTIONS = 32


def key_prefix(settings: Settings) -> str:
    """The Redis key prefix of the notifier's state (the deployment's topic prefix included)."""
    return _key_prefix(settings, REDIS_COMPONENT)


def redis_client(settings: Settings, *, connections: int = REDIS_CONNECTIONS) -> Redis:
    """A client whose pool makes callers wait for a connection (a batch runs hundreds of
    deliveries at once; a plain pool would fail them with "Too many connections")."""
    return _redis_client(settings, max_connections=connections)


class KafkaOutcomeSink:
    """Publishes outcome events on ``ixo.notify.deliveries`` and waits for the broker's ack."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, event: AnyEvent) -> None:
        """Kafka's errors arrive mapped (:class:`TransientError` / :class:`PermanentError`)."""
        await self._publisher.publish(event, NOTIFY_DELIVERIES)


class KafkaNotifierSource:
    """What a rebuild of the notifier's Redis state reads (``_rebuild.NotifierRebuildSource``)."""

    def __init__(self, settings: Settings) -> None:
        self._rules = KafkaLog(settings, ALERT_RULES)
        self._subscriptions = KafkaLog(settings, NOTIFY_SUBSCRIPTIONS)
        self._outcomes = KafkaLog(settings, NOTIFY_DELIVERIES)
        self._alerts = KafkaLog(settings, ALERT_MATCHES)

    async def rules(self) -> list[Delivery]:
        return await self._rules.latest()

    async def subscriptions(self) -> list[Delivery]:
        return await self._subscriptions.latest()

    async def outcomes(self, since_ms: int) -> AsyncIterator[Delivery]:
        start = await self._outcomes.offsets_at(since_ms)
        async for item in self._outcomes.read(start):
            yield item

    async def consumed_alerts(self, since_ms: int) -> AsyncIterator[Delivery]:
        end = await self._alerts.committed(GROUP_ALERTS)
        start = {p: o for p, o in (await self._alerts.offsets_at(since_ms)).items() if p in end}
        if not start:
            return
        async for item in self._alerts.read(start, end):
            yield item


def state_epoch(settings: Settings, client: Redis) -> StateEpoch:
    """The generation marker of the notifier's Redis state (missing: rebuild before working)."""
    return StateEpoch(client, key_prefix(settings))


def restorer(
    settings: Settings, config: NotifierConfig, notifier: Notifier, client: Redis
) -> Callable[[], Awaitable[NotifierRebuildSummary]]:
    """The rebuild of the notifier's state under ``client`` (``_rebuild.py``)."""
    prefix = key_prefix(settings)
    source = KafkaNotifierSource(settings)

    async def restore() -> NotifierRebuildSummary:
        return await rebuild(
            notifier,
            RedisDirectory(client, prefix),
            RedisLedger(client, prefix, lease_s=config.lease_s, ttl_s=config.dedupe_ttl_s),
            source,
            now_ms=int(time.time() * 1000),
            dedupe_ttl_s=config.dedupe_ttl_s,
            max_age_s=config.max_age_s,
        )

    return restore


async def rebuild_state(
    settings: Settings, config: NotifierConfig | None = None, *, force: bool = True
) -> NotifierRebuildSummary | None:
    """Rebuild the notifier's Redis state from Kafka now (``ixo rebuild redis``), with this
    process's own senders (parked deliveries are resumed here); running notifiers wait for it
    at their next batch. Returns what was restored, or None if nothing had to be."""
    config = config or NotifierConfig()
    client = redis_client(settings)
    broker = make_broker(settings, client_id="ixo-notifier-rebuild")
    found: list[NotifierRebuildSummary] = []
    opened: list[TelegramSender | DiscordSender | WebhookSender] = []
    try:
        await broker.connect()
        notifier = build_notifier(settings, EventPublisher(broker, settings), client, config)
        senders, opened = await open_senders(settings, config)
        notifier.senders.update(senders)
        restore = restorer(settings, config, notifier, client)

        async def run() -> None:
            found.append(await restore())

        epoch = state_epoch(settings, client)
        if force:
            await epoch.force(run)
        else:
            await epoch.ensure(run)
    finally:
        for sender in opened:
            await sender.close()
        await broker.stop()
        await client.aclose()
    return found[0] if found else None


def build_notifier(
    settings: Settings, publisher: EventPublisher, client: Redis, config: NotifierConfig
) -> Notifier:
    """The notifier core on the Redis adapters and the Kafka sink (no channel senders yet)."""
    prefix = key_prefix(settings)
    return Notifier(
        senders={},
        ledger=RedisLedger(client, prefix, lease_s=config.lease_s, ttl_s=config.dedupe_ttl_s),
        limiter=RedisRateLimiter(client, prefix),
        directory=RedisDirectory(client, prefix),
        sink=KafkaOutcomeSink(publisher),
        parking=RedisParking(client, prefix, ttl_s=config.dedupe_ttl_s, hide_s=config.lease_s * 2),
        config=config,
    )


def webhook_sender(settings: Settings, config: NotifierConfig) -> WebhookSender:
    """The webhook sender of these settings: targets checked by the outbound guard
    (``IXO_WEBHOOK_ALLOWED_NETWORKS``) before each POST and again as each connection opens;
    secrets decrypted with ``IXO_SECRETS_KEYS`` (or the state dir's key)."""
    guard = OutboundGuard.from_settings(settings)
    client = guarded_client(
        guard,
        timeout_s=config.send_timeout_s,
        connections=config.concurrency,
        headers={"user-agent": USER_AGENT},
    )
    return WebhookSender(client, guard=guard, decrypt=secret_box(settings).decrypt)


async def open_senders(
    settings: Settings, config: NotifierConfig
) -> tuple[dict[str, Sender], list[TelegramSender | DiscordSender | WebhookSender]]:
    """The channel senders the settings allow (webhooks always; Telegram and Discord when their
    tokens are set), and what to close at shutdown."""
    senders: dict[str, Sender] = {}
    webhook = webhook_sender(settings, config)
    senders["webhook"] = webhook
    opened: list[TelegramSender | DiscordSender | WebhookSender] = [webhook]
    telegram_token = settings.telegram_token.get_secret_value()
    if telegram_token:
        telegram = TelegramSender(
            telegram_bot(telegram_token, settings.telegram_api_url),
            timeout_s=config.send_timeout_s,
        )
        senders["telegram"] = telegram
        opened.append(telegram)
    else:
        log.warning("IXO_TELEGRAM_TOKEN is not set: Telegram deliveries will fail")
    discord_token = settings.discord_token.get_secret_value()
    if discord_token:
        discord = DiscordSender(
            discord_token, settings.discord_api_url, timeout_s=config.send_timeout_s
        )
        await discord.start()
        senders["discord"] = discord
        opened.append(discord)
    else:
        log.warning("IXO_DISCORD_TOKEN is not set: Discord deliveries will fail")
    return senders, opened


def build_app(settings: Settings | None = None, config: NotifierConfig | None = None) -> FastStream:
    """The notifier app. Telegram and Discord are used when their tokens are set (deliveries to
    an unconfigured kind fail permanently, saying so); webhooks always. ``settings`` default to
    the environment's; building contacts nothing (senders open at startup)."""
    settings = settings or get_settings()
    config = config or NotifierConfig()
    broker = make_broker(settings, client_id="ixo-notifier")
    client = redis_client(settings)
    notifier = build_notifier(settings, EventPublisher(broker, settings), client, config)
    closers: list[TelegramSender | DiscordSender | WebhookSender] = []
    background: list[asyncio.Task[None]] = []
    epoch = state_epoch(settings, client)
    restore = restorer(settings, config, notifier, client)

    async def on_rules(batch: Sequence[Delivery]) -> None:
        await epoch.ensure(restore)
        await notifier.on_rules(batch)

    async def on_subscriptions(batch: Sequence[Delivery]) -> None:
        await epoch.ensure(restore)
        await notifier.on_subscriptions(batch)

    async def on_alerts(batch: Sequence[Delivery]) -> None:
        await epoch.ensure(restore)
        await notifier.on_alerts(batch)

    async def on_events(batch: Sequence[Delivery]) -> None:
        await epoch.ensure(restore)
        await notifier.on_events(batch)

    subscribe(broker, settings, ALERT_RULES, group=GROUP_RULES, handler=on_rules)
    subscribe(
        broker, settings, NOTIFY_SUBSCRIPTIONS, group=GROUP_SUBSCRIPTIONS, handler=on_subscriptions
    )
    subscribe(
        broker,
        settings,
        ALERT_MATCHES,
        group=GROUP_ALERTS,
        handler=on_alerts,
        max_records=config.max_records,
    )
    for topic in config.webhook_topics:
        subscribe(
            broker,
            settings,
            topic,
            group=GROUP_WEBHOOKS + topic.name,
            handler=on_events,
            max_records=config.max_records,
        )
    app = FastStream(broker)

    @app.on_startup
    async def _senders() -> None:
        senders, opened = await open_senders(settings, config)
        closers.extend(opened)
        notifier.senders.update(senders)

    @app.after_startup
    async def _resume_parked() -> None:
        background.append(asyncio.create_task(notifier.run_parked()))

    @app.on_shutdown
    async def _stop_resuming() -> None:
        notifier.stop_parked()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        background.clear()
        await notifier.stop_resuming()

    @app.after_shutdown
    async def _close() -> None:
        for sender in closers:
            await sender.close()
        closers.clear()
        await client.aclose()

    return app
