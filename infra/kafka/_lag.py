"""Consumer lag: for each consumer group of this deployment, committed offsets against the end,
and the lag in time: how long ago the oldest record the group has not processed was written.

Shared by ``ixo lag`` and ``GET /v1/ops/lag`` (moved from the CLI in issue 14)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.kafka._admin import admin_client, offsets_consumer
from infra.settings import Settings
from schemas import IxoError


class UnknownGroup(IxoError):  # noqa: N818 - like UnknownTopic
    """A consumer group name that matches no group of this deployment."""


GROUP_NAMESPACE: Final = "ixo."
"""Every consumer group of the platform is named ``ixo.<component>...`` (before the prefix)."""


@dataclass(frozen=True)
class LagRow:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int
    lag_s: float | None = None
    """Seconds since the oldest unprocessed record was written (its Kafka timestamp); 0 when
    nothing is behind, None when that record could not be read (deleted by retention)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_candidates(settings: Settings, name: str) -> list[str]:
    """The group ids ``name`` may stand for, this deployment's first: with the deployment's
    prefix, with the prefix and our ``ixo.`` namespace (``projector.prices`` is
    ``<prefix>ixo.projector.prices``), then as given (a full id, prefix included)."""
    found: list[str] = []
    for candidate in (settings.group(name), settings.group(f"{GROUP_NAMESPACE}{name}"), name):
        if candidate not in found:
            found.append(candidate)
    return found


def resolve_group(settings: Settings, name: str, existing: Iterable[str]) -> str:
    """The existing consumer group ``name`` stands for; :class:`UnknownGroup` if none."""
    known = set(existing)
    for candidate in group_candidates(settings, name):
        if candidate in known:
            return candidate
    ours = sorted(g for g in known if g.startswith(settings.group(GROUP_NAMESPACE)))
    hint = f"; known: {', '.join(ours)}" if ours else ""
    msg = f"unknown consumer group {name!r}{hint}"
    raise UnknownGroup(msg)


async def consumer_lag(settings: Settings, group: str | None = None) -> list[LagRow]:
    """Every (group, topic, partition) with a committed offset, for groups with our prefix.

    ``group`` picks one group, named in full or without the deployment prefix and ``ixo.``
    (see :func:`group_candidates`); an unknown one is :class:`UnknownGroup`. A partition without a
    committed offset counts everything retained as lag.
    """
    prefix = settings.topic_prefix
    async with admin_client(settings) as admin:
        listed = {str(g[0]) for g in await admin.list_consumer_groups()}
        if group is None:
            groups = sorted(g for g in listed if g.startswith(prefix))
        else:
            groups = [resolve_group(settings, group, listed)]
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
        rows = _rows(groups, committed, ends, begins)
        wanted = {(r.topic, r.partition, r.end - r.lag) for r in rows if r.lag > 0}
        stamps = await _timestamps(consumer, wanted)
    now_ms = time.time() * 1000
    return [
        replace(
            r,
            lag_s=0.0
            if r.lag == 0
            else (
                max(0.0, (now_ms - stamp) / 1000)
                if (stamp := stamps.get((r.topic, r.partition, r.end - r.lag))) is not None
                else None
            ),
        )
        for r in rows
    ]


async def _timestamps(
    consumer: AIOKafkaConsumer, wanted: Iterable[tuple[str, int, int]], timeout_s: float = 10.0
) -> dict[tuple[str, int, int], int]:
    """The Kafka timestamp (ms) of the record at each (topic, partition, offset): one read of
    the first record from that offset per partition (several groups at one offset share it)."""
    by_tp: dict[TopicPartition, set[int]] = {}
    for topic, partition, offset in wanted:
        by_tp.setdefault(TopicPartition(topic, partition), set()).add(offset)
    found: dict[tuple[str, int, int], int] = {}
    for offsets in _rounds(by_tp):
        consumer.assign(list(offsets))
        for tp, offset in offsets.items():
            consumer.seek(tp, offset)
        remaining = set(offsets)
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=1)
            for tp, records in batch.items():
                if records and tp in remaining:
                    # the first record at or after the offset (a compacted topic may skip some)
                    found[tp.topic, tp.partition, offsets[tp]] = records[0].timestamp
                    remaining.discard(tp)
    return found


def _rounds(by_tp: Mapping[TopicPartition, set[int]]) -> list[dict[TopicPartition, int]]:
    """Offsets to read, one per partition per round (a consumer has one position each)."""
    pending = {tp: sorted(offsets) for tp, offsets in by_tp.items()}
    rounds: list[dict[TopicPartition, int]] = []
    while any(pending.values()):
        rounds.append({tp: offs.pop(0) for tp, offs in pending.items() if offs})
    return rounds


def _rows(
    groups: list[str],
    committed: Mapping[str, Mapping[TopicPartition, Any]],
    ends: Mapping[TopicPartition, int],
    begins: Mapping[TopicPartition, int],
) -> list[LagRow]:
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
