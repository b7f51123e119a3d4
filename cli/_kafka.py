"""The CLI's Kafka adapter: read records by offset range (``infra.kafka``), connect a publisher,
commit requeues.

Third-party errors met while connecting become one-line :class:`CommandError` messages naming the
bootstrap address.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from cli._errors import CommandError
from infra.kafka import Start, connected_broker, read_records, start_offsets
from infra.kafka import topic_partitions as _topic_partitions
from infra.settings import Settings
from schemas import UnknownTopic

__all__ = [
    "Start",
    "connected_broker",
    "read_records",
    "start_offsets",
    "topic_partitions",
    "unreachable",
]


def unreachable(settings: Settings, exc: BaseException) -> CommandError:
    return CommandError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}")


async def topic_partitions(
    consumer: AIOKafkaConsumer, topic: str, settings: Settings
) -> list[TopicPartition]:
    """The partitions of ``topic``; a topic missing on the cluster is a :class:`CommandError`."""
    try:
        return await _topic_partitions(consumer, topic, settings)
    except UnknownTopic as exc:
        raise CommandError(str(exc)) from None
