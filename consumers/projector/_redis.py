"""The trace index in Redis (decision 0164): one sorted set per correlation id.

Key ``P t:<correlation id>`` (``P`` is ``<topic prefix>ixo:trace:``); each member is one event's
entry as a compact JSON array (time, topic, partition, offset, type, id, subject, source,
causation id), its score the event time in epoch milliseconds, so ``ZRANGE`` returns a trace in
time order in O(log n + k) however many events are indexed. Adding an entry twice is a no-op
(same member), so redelivery and replays are idempotent. Each write renews the key's TTL
(``IXO_TRACE_TTL_S``) and keeps the newest ``IXO_TRACE_MAX_EVENTS`` entries, so memory is
bounded per trace and in time.

Linked traces (decision 0168) keep two kinds of small strings, with the same TTL: ``P r:<rule
id>`` (the correlation id of the rule's latest event) and ``P e:<event id>`` (the trace an event
was linked to, for the events it causes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from consumers.projector._trace import Links, TraceEntry, linked_entries
from schemas import PermanentError, TransientError


def _map_error(exc: RedisError) -> Exception:
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return TransientError(f"Redis unavailable: {exc}")
    return PermanentError(f"Redis error: {exc}")


def encode_entry(entry: TraceEntry) -> bytes:
    """The sorted-set member of an entry (its correlation id is the key, not repeated)."""
    stamp = entry.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return orjson.dumps(
        [
            stamp,
            entry.topic,
            entry.partition,
            entry.offset,
            entry.type,
            entry.id,
            entry.subject,
            entry.source,
            entry.causationid,
        ]
    )


def decode_entry(correlation_id: str, member: bytes | str) -> TraceEntry:
    stamp, topic, partition, offset, kind, eid, subject, source, cause = orjson.loads(member)
    return TraceEntry(
        correlation_id=correlation_id,
        time=datetime.fromisoformat(stamp),
        topic=topic,
        partition=partition,
        offset=offset,
        type=kind,
        id=eid,
        subject=subject,
        source=source,
        causationid=cause,
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def score_of(entry: TraceEntry) -> float:
    return entry.time.timestamp() * 1000


class RedisTraceIndex:
    """Writes (the projector) and reads (the service layer) of the trace index."""

    def __init__(self, client: Redis, prefix: str, *, ttl_s: int, max_events: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.max_events = max_events

    def key(self, correlation_id: str) -> str:
        return f"{self.prefix}t:{correlation_id}"

    async def add(self, entries: Sequence[TraceEntry]) -> int:
        """Index a batch: one pipeline, three commands per correlation id. Returns how many
        correlation ids were touched."""
        by_trace: dict[str, dict[bytes, float]] = defaultdict(dict)
        for entry in entries:
            by_trace[entry.correlation_id][encode_entry(entry)] = score_of(entry)
        if not by_trace:
            return 0
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for cid, members in by_trace.items():
                    key = self.key(cid)
                    pipe.zadd(key, members)
                    pipe.zremrangebyrank(key, 0, -(self.max_events + 1))
                    pipe.expire(key, self.ttl_s)
                await pipe.execute()
        except RedisError as exc:
            raise _map_error(exc) from None
        return len(by_trace)

    async def index(self, entries: Sequence[TraceEntry], links: Links) -> int:
        """Index a batch with its linked traces (see :func:`linked_entries`): one read of the
        links the batch needs, one pipeline of writes."""
        rule_ids = sorted(set(links.alert_rules.values()) - set(links.rules))
        causes = sorted({e.causationid for e in entries if e.causationid is not None})
        rule_traces: dict[str, str] = {}
        caused_by: dict[str, str] = {}
        if rule_ids or causes:
            keys = [self._rule_key(r) for r in rule_ids] + [self._event_key(c) for c in causes]
            try:
                found: list[Any] = await self.client.mget(keys)
            except RedisError as exc:
                raise _map_error(exc) from None
            for rule_id, value in zip(rule_ids, found[: len(rule_ids)], strict=True):
                if value is not None:
                    rule_traces[rule_id] = _text(value)
            for cause, value in zip(causes, found[len(rule_ids) :], strict=True):
                if value is not None:
                    caused_by[cause] = _text(value)
        extra, new = linked_entries(entries, links, rule_traces, caused_by)
        if links.rules or new:
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for rule_id, cid in links.rules.items():
                        pipe.set(self._rule_key(rule_id), cid, ex=self.ttl_s)
                    for event_id, cid in new.items():
                        pipe.set(self._event_key(event_id), cid, ex=self.ttl_s)
                    await pipe.execute()
            except RedisError as exc:
                raise _map_error(exc) from None
        return await self.add([*entries, *extra])

    def _rule_key(self, rule_id: str) -> str:
        return f"{self.prefix}r:{rule_id}"

    def _event_key(self, event_id: str) -> str:
        return f"{self.prefix}e:{event_id}"

    async def lookup(self, correlation_id: str, *, limit: int) -> tuple[list[TraceEntry], int]:
        """The first ``limit`` events of a trace in time order, and how many it has."""
        key = self.key(correlation_id)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zrange(key, 0, limit - 1)
                pipe.zcard(key)
                found: list[Any] = await pipe.execute()
        except RedisError as exc:
            raise _map_error(exc) from None
        members, total = found
        return [decode_entry(correlation_id, m) for m in members], int(total)

    async def clear(self) -> int:
        """Drop every trace under the prefix (tests and benchmarks); returns keys deleted."""
        deleted = 0
        try:
            batch: list[Any] = []
            async for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += int(await self.client.unlink(*batch))
                    batch = []
            if batch:
                deleted += int(await self.client.unlink(*batch))
        except RedisError as exc:
            raise _map_error(exc) from None
        return deleted
