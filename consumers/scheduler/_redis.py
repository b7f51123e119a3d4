"""The Redis adapters of the scheduler, every key under a deployment prefix ``P``
(``<topic prefix>ixo:sched:``):

- ``P through:<task key>``: epoch milliseconds up to which every slot of the task was fired;
- ``P slot:<slot id>``: a slot's claim (the claimer's token, expiring after the lease) and then
  ``done`` (kept ``done_ttl_s``: longer than the catch-up window, so a slot is never re-fired);
- ``P book`` hash: schedule id -> the live schedule (JSON); ``P book-pos`` hash: schedule id ->
  ``<partition>:<offset>`` of the last event applied (deleted ones too, so an older event never
  resurrects a schedule); ``P book-ver``: bumped on every change, so readers reload lazily;
  ``P book-epoch``: names the consumer group that folds the book: if Redis loses the book, the
  next scheduler to start picks a new epoch, whose new group refolds the topic from the start;
- ``P handled:<worker>:<event id>``: a worker finished with an event.

Every transition is one command or one Lua script (atomic). Redis failures become
:class:`TransientError` here (consumers retry; the clock tries again on its next tick).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from consumers.scheduler._slots import task_key
from consumers.scheduler._types import ClaimState, ScheduleSpec
from schemas import AnyEvent, ScheduleCreatedV1, ScheduleDeletedV1, TransientError

HANDLED_TTL_S: Final = 8 * 24 * 3600  # longer than ixo.tasks.due's 7 days of retention

_ADVANCE: Final = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
return 0
"""

_CLAIM: Final = """
local v = redis.call('GET', KEYS[1])
if v == 'done' then return 'done' end
if v then return 'busy' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'
"""

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: book, book-pos, book-ver, through key; ARGV: id, json ('' = deleted), partition, offset
_PUT: Final = """
local pos = redis.call('HGET', KEYS[2], ARGV[1])
if pos then
  local sep = string.find(pos, ':', 1, true)
  local p, o = string.sub(pos, 1, sep - 1), tonumber(string.sub(pos, sep + 1))
  if p == ARGV[3] and o >= tonumber(ARGV[4]) then return 0 end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. ':' .. ARGV[4])
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[4])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('INCR', KEYS[3])
return 1
"""


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Map a Redis failure inside the block to :class:`TransientError`."""
    try:
        yield
    except RedisError as exc:
        msg = f"Redis unavailable: {exc}"
        raise TransientError(msg) from None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(raw: bytes | str) -> datetime:
    return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)


class RedisLedger:
    """:class:`consumers.scheduler.SlotLedger` over Redis."""

    def __init__(self, redis: Redis, prefix: str, *, lease_s: float, done_ttl_s: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = max(1, int(lease_s * 1000))
        self._done_ttl_s = done_ttl_s
        self._advance = redis.register_script(_ADVANCE)
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def _through(self, key: str) -> str:
        return f"{self._prefix}through:{key}"

    def _slot(self, slot_id: str) -> str:
        return f"{self._prefix}slot:{slot_id}"

    async def through(self, key: str) -> datetime | None:
        async with redis_errors():
            raw = await self._redis.get(self._through(key))
        return None if raw is None else _from_ms(raw)

    async def start(self, key: str, at: datetime) -> datetime:
        async with redis_errors():
            await self._redis.set(self._through(key), _ms(at), nx=True)
            raw = await self._redis.get(self._through(key))
        return at if raw is None else _from_ms(raw)

    async def advance(self, key: str, slot: datetime) -> None:
        async with redis_errors():
            await self._advance(keys=[self._through(key)], args=[_ms(slot)])

    async def claim(self, slot_id: str, token: str) -> ClaimState:
        async with redis_errors():
            raw = await self._claim(keys=[self._slot(slot_id)], args=[token, self._lease_ms])
        state = raw.decode() if isinstance(raw, bytes) else str(raw)
        if state == "claimed":
            return "claimed"
        return "done" if state == "done" else "busy"

    async def done(self, slot_id: str) -> None:
        async with redis_errors():
            await self._redis.set(self._slot(slot_id), "done", ex=self._done_ttl_s)

    async def release(self, slot_id: str, token: str) -> None:
        async with redis_errors():
            await self._release(keys=[self._slot(slot_id)], args=[token])


class Positioned(Protocol):
    @property
    def event(self) -> AnyEvent: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


def _spec_json(data: ScheduleCreatedV1, created_at: datetime) -> str:
    return json.dumps(
        {"data": data.model_dump(mode="json"), "created_at": created_at.isoformat()},
        separators=(",", ":"),
    )


def _spec(raw: bytes | str) -> ScheduleSpec:
    value: dict[str, Any] = json.loads(raw)
    return ScheduleSpec(
        data=ScheduleCreatedV1.model_validate(value["data"]),
        created_at=datetime.fromisoformat(value["created_at"]),
    )


class RedisBook:
    """The live user schedules, folded from ``ixo.schedules`` into Redis by a shared consumer
    group, read by every scheduler process (:class:`consumers.scheduler.ScheduleSource`)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._put = redis.register_script(_PUT)
        self._version: bytes | str | None = None
        self._cache: dict[str, ScheduleSpec] = {}

    @property
    def _book(self) -> str:
        return f"{self._prefix}book"

    async def epoch(self) -> str:
        """The book's epoch (created on first use): the suffix of the fold's consumer group."""
        key = f"{self._prefix}book-epoch"
        async with redis_errors():
            await self._redis.set(key, uuid.uuid4().hex[:12], nx=True)
            raw = await self._redis.get(key)
        if raw is None:
            msg = "Redis lost the book epoch while it was being created"
            raise TransientError(msg)
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def _keys(self, through_key: str) -> list[str]:
        return [
            self._book,
            f"{self._prefix}book-pos",
            f"{self._prefix}book-ver",
            f"{self._prefix}through:{through_key}",
        ]

    async def fold(self, batch: Sequence[Positioned]) -> None:
        """Apply a consumed batch of schedule events (older events than the stored are no-ops).

        A created event whose cadence cannot run raises ``CadenceError``: the consumer retries,
        then dead-letters that record alone, with the reason."""
        for item in batch:
            data = item.event.data
            if isinstance(data, ScheduleCreatedV1):
                spec = ScheduleSpec(data, item.event.time)
                spec.cadence()  # refuse what cannot run (-> DLQ with the reason)
                value = _spec_json(data, item.event.time)
            elif isinstance(data, ScheduleDeletedV1):
                value = ""
            else:
                continue
            keys = self._keys(task_key("schedule", data.schedule_id))
            async with redis_errors():
                await self._put(
                    keys=keys, args=[data.schedule_id, value, item.partition, item.offset]
                )

    async def live(self) -> Mapping[str, ScheduleSpec]:
        async with redis_errors():
            version = await self._redis.get(f"{self._prefix}book-ver")
            if version is not None and version == self._version:
                return self._cache
            raw = await self._redis.hgetall(self._book)
        cache: dict[str, ScheduleSpec] = {}
        for key, value in raw.items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            cache[name] = _spec(value)
        self._cache, self._version = cache, version
        return cache

    async def get(self, schedule_id: str) -> ScheduleSpec | None:
        async with redis_errors():
            raw = await self._redis.hget(self._book, schedule_id)
        return None if raw is None else _spec(raw)


class RedisHandled:
    """:class:`consumers.scheduler.HandledStore` over Redis keys with a TTL."""

    def __init__(self, redis: Redis, prefix: str, *, ttl_s: int = HANDLED_TTL_S) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_s = ttl_s

    async def seen(self, key: str) -> bool:
        async with redis_errors():
            return bool(await self._redis.exists(f"{self._prefix}handled:{key}"))

    async def mark(self, key: str) -> None:
        async with redis_errors():
            await self._redis.set(f"{self._prefix}handled:{key}", b"1", ex=self._ttl_s)
