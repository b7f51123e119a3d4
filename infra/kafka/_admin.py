"""Topic administration: create the catalogue's topics, describe topics, read end offsets."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from infra.kafka._security import client_options
from infra.settings import Settings
from schemas import CATALOGUE, Topic, TransientError


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    end_offsets: dict[int, int]
    begin_offsets: dict[int, int]
    retention: str
    in_catalogue: bool

    @property
    def messages(self) -> int:
        """Records currently retained (end minus beginning, summed over partitions)."""
        return sum(self.end_offsets[p] - self.begin_offsets.get(p, 0) for p in self.end_offsets)


@contextlib.asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**client_options(settings), client_id="ixo-admin")
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        msg = f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        raise TransientError(msg) from None
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(settings: Settings, topics: Iterable[Topic] | None = None) -> list[str]:
    """Create every catalogue topic and its DLQ (prefixed) that does not exist yet.

    Returns the names it created. Existing topics are left as they are.
    """
    wanted = list(topics) if topics is not None else list(CATALOGUE.all_topics())
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.full_name(settings.topic_prefix) not in existing]
        if not missing:
            return []
        extra = {}
        if settings.kafka.min_insync_replicas is not None:
            extra["min.insync.replicas"] = str(settings.kafka.min_insync_replicas)
        new = [
            NewTopic(
                t.full_name(settings.topic_prefix),
                t.partitions,
                settings.kafka.replication_factor,
                topic_configs={**t.kafka_config(), **extra},
            )
            for t in missing
        ]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new)
    return [t.full_name(settings.topic_prefix) for t in missing]


@contextlib.asynccontextmanager
async def offsets_consumer(settings: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer for metadata and offset look-ups."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, client_id="ixo-ops"
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        msg = f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        raise TransientError(msg) from None
    try:
        yield consumer
    finally:
        await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    parts = consumer.partitions_for_topic(topic)
    if parts is None:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(parts or ())]


async def describe_topics(settings: Settings, *, include_all: bool = False) -> list[TopicInfo]:
    """Catalogue topics (and DLQs) that exist, with offsets; ``include_all`` adds the rest."""
    prefix = settings.topic_prefix
    catalogue = {t.full_name(prefix): t for t in CATALOGUE.all_topics()}
    async with offsets_consumer(settings) as consumer:
        names = sorted(await consumer.topics())
        chosen = [n for n in names if n in catalogue or (include_all and not n.startswith("__"))]
        out = []
        for name in chosen:
            tps = await partitions_of(consumer, name)
            ends = await consumer.end_offsets(tps) if tps else {}
            begins = await consumer.beginning_offsets(tps) if tps else {}
            topic = catalogue.get(name)
            out.append(
                TopicInfo(
                    name=name,
                    partitions=len(tps),
                    end_offsets={tp.partition: off for tp, off in ends.items()},
                    begin_offsets={tp.partition: off for tp, off in begins.items()},
                    retention=topic.retention_label if topic else "?",
                    in_catalogue=topic is not None,
                )
            )
    return out
