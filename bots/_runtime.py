"""What every bot process holds: Kafka (publisher and two subscribers), Redis and MongoDB, and
the shared command layer wired on them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from pymongo import AsyncMongoClient

from bots._answers import Answers, AnswerSink
from bots._links import RedisLinks
from bots._once import RedisOnce
from bots._redis import key_prefix, redis_client
from bots._service import BotService
from bots._types import BotPlatform
from infra.kafka import EventPublisher, make_broker, subscribe
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from schemas import CHAT_RESPONSES, USER_LINKS
from services import Services

READY_TIMEOUT_S: Final = 60.0

log = logging.getLogger(__name__)


def group_name(platform: BotPlatform, what: str) -> str:
    """Consumer group of a bot's subscriber (the topic prefix is added by ``subscribe``)."""
    return f"ixo.bots.{platform}.{what}"


class BotRuntime:
    """Kafka, Redis and MongoDB of one bot process, and its :class:`BotService`.

    Subscribers: the platform's answers on ``ixo.chat.responses`` (new groups start at the
    latest offset: a newly deployed bot does not replay a week of answers) and the platform's
    links on ``ixo.users.links`` (from the beginning: the compacted topic is the link table).
    """

    def __init__(self, settings: Settings, platform: BotPlatform) -> None:
        self.settings = settings
        self.platform = platform
        self.source = f"/bots/{platform}"
        self.broker = make_broker(settings, client_id=f"ixo-{platform}-bot")
        self.publisher = EventPublisher(self.broker, settings)
        self.redis = redis_client(settings)
        self.prefix = key_prefix(settings)
        self.links = RedisLinks(self.redis, self.prefix)
        # Connects on first use; the services read this client's database (no process-wide
        # binding: other components in the same process keep their own clients).
        self._mongo: AsyncMongoClient[dict[str, Any]] = mongo_client(settings)
        # The bot's Redis serves the identity service too: it redeems link codes there.
        self.services = Services.build(
            self.publisher,
            self._mongo[settings.mongodb_database],
            settings,
            source=self.source,
            redis=self.redis,
        )
        self.service = BotService(self.services, self.links, RedisOnce(self.redis, self.prefix))

        async def on_links(batch: Any) -> None:
            await self.links.fold(batch, platform)

        subscribe(
            self.broker, settings, USER_LINKS, group=group_name(platform, "links"), handler=on_links
        )

    def answer_with(self, sink: AnswerSink) -> None:
        """Subscribe to the platform's answers, sent through ``sink`` (before :meth:`start`)."""
        subscribe(
            self.broker,
            self.settings,
            CHAT_RESPONSES,
            group=group_name(self.platform, "answers"),
            handler=Answers(self.platform, sink, self.redis, self.prefix),
            auto_offset_reset="latest",
        )

    async def start(self) -> None:
        """Connect MongoDB (read models), then Kafka (publisher and subscribers). Call
        :meth:`stop` afterwards even when this failed half-way."""
        await open_database(self.settings, self._mongo)
        await self.broker.start()

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """Wait until every subscriber has its partitions and knows where it reads from.

        False (and a warning) after ``timeout``: the bot serves anyway, the subscribers catch up
        when the group settles."""
        try:
            await asyncio.wait_for(self._assigned(), timeout)
        except TimeoutError:
            log.warning(
                "subscribers have no partitions yet; serving anyway",
                extra={"platform": self.platform, "timeout_s": timeout},
            )
            return False
        return True

    async def _assigned(self) -> None:
        subscribers: list[Any] = list(self.broker.subscribers)
        for sub in subscribers:
            while True:  # no event to wait on: aiokafka assigns inside its coordinator
                consumer = sub.consumer
                if consumer is not None and consumer.assignment():
                    break
                await asyncio.sleep(0.05)
            for tp in consumer.assignment():
                await consumer.position(tp)

    async def stop(self) -> None:
        try:
            await self.broker.stop()
        finally:
            await self.redis.aclose()
            await self._mongo.close()
