"""Consumer lag: for each consumer group of this deployment, committed offsets against the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import TopicPartition

from infra.kafka import admin_client, offsets_consumer
from infra.settings import Settings


@dataclass(frozen=True)
class LagRow:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def consumer_lag(settings: Settings, group: str | None = None) -> list[LagRow]:
    """Every (group, topic, partition) with a committed offset, for groups with our prefix.

    A partition without a committed offset counts everything retained as lag.
    """
    prefix = settings.topic_prefix
    async with admin_client(settings) as admin:
        listed = await admin.list_consumer_groups()
        groups = sorted(
            {str(g[0]) for g in listed if str(g[0]).startswith(prefix)}
            if group is None
            else {settings.group(group) if not group.startswith(prefix) else group}
        )
        committed: dict[str, dict[TopicPartition, Any]] = {}
        for gid in groups:
            committed[gid] = await admin.list_consumer_group_offsets(gid)
    async with offsets_consumer(settings) as consumer:
        existing = set(await consumer.topics())
        tps = sorted(
            {tp for offsets in committed.values() for tp in offsets if tp.topic in existing}
        )
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps) if tps else {}
        begins: dict[TopicPartition, int] = await consumer.beginning_offsets(tps) if tps else {}
    rows = []
    for gid in groups:
        for tp, meta in sorted(committed[gid].items()):
            if tp not in ends:
                continue
            offset = int(meta.offset) if meta is not None and meta.offset >= 0 else None
            base = offset if offset is not None else begins.get(tp, 0)
            rows.append(
                LagRow(
                    group=gid,
                    topic=tp.topic,
                    partition=tp.partition,
                    committed=offset,
                    end=ends[tp],
                    lag=max(0, ends[tp] - base),
                )
            )
    return rows
