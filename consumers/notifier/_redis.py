"""The Redis adapter: the delivery ledger, the per-user rate limiter and the routing directory.

Keys, under a deployment prefix ``P`` (e.g. ``ixo:notify:``):

- ``P d:<delivery key>`` hash, the ledger: ``st`` state (``c`` claimed, ``s`` sent, ``f``
  failed, ``d`` done), ``ow`` owner token, ``le`` lease end (ms), ``a`` attempts, ``at``/``err``
  the decided outcome. Expires ``dedupe_ttl_s`` after it was created.
- ``P rl:<bucket>`` the rate limiter: a GCRA "theoretical arrival time" in ms.
- ``P r:<rule_id>`` hash, a rule's route: ``u`` user, ``c`` channels (JSON), ``d`` deletion
  time (ISO, empty while live), ``p``/``o`` partition and offset of the last event applied.
- ``P q`` sorted set and ``P j:<key>`` strings: parked jobs (due time, the job as JSON).
- ``P s:<subscription_id>`` hash: ``ow``, ``url``, ``sec`` (the secret, still encrypted),
  ``ty`` (JSON list), ``since``, ``all`` (1: every user's events), ``del`` (1 when deleted),
  ``p``/``o``; ``P st:<event type>`` and ``P so:<owner>`` sets of
  live subscription ids (by event type, by owner).

Every transition is one Lua script (atomic); a batch of rule or subscription events is one
pipeline. Redis outages surface as :class:`TransientError` (the consumer retries the batch).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from consumers.notifier._types import (
    Claim,
    ClaimStatus,
    Job,
    Outcome,
    Positioned,
    RuleRoute,
    SubscriptionRoute,
)
from schemas import (
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    Channel,
    PermanentError,
    SubscriptionCreatedV1,
    SubscriptionDeletedV1,
    TransientError,
    decode_any,
    encode,
)

T = TypeVar("T")

CLAIM: Final = """
-- ARGV: token, now_ms, lease_ms, ttl_ms, begin (1: a claimed key starts its next attempt)
local k = KEYS[1]
local token, now, lease, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local begin = ARGV[5] == '1' and 1 or 0
local f = redis.call('HMGET', k, 'st', 'ow', 'le', 'a', 'at', 'err')
if not f[1] then
  redis.call('HSET', k, 'st', 'c', 'ow', token, 'le', string.format('%d', now + lease), 'a', begin)
  redis.call('PEXPIRE', k, ttl)
  return {'c', tostring(begin), '', '', '0'}
end
if f[1] == 'd' then return {'d', f[4] or '0', f[5] or '', f[6] or '', '0'} end
local le = tonumber(f[3] or '0')
if f[2] ~= token and le > now then
  return {'busy', f[4] or '0', '', '', string.format('%d', le - now)}
end
redis.call('HSET', k, 'ow', token, 'le', string.format('%d', now + lease))
local a = f[4] or '0'
if f[1] == 'c' and begin == 1 then a = tostring(redis.call('HINCRBY', k, 'a', 1)) end
return {f[1], a, f[5] or '', f[6] or '', '0'}
"""

RENEW: Final = """
local f = redis.call('HMGET', KEYS[1], 'st', 'ow')
if f[1] ~= 'c' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'le', string.format('%d', tonumber(ARGV[2]) + tonumber(ARGV[3])))
return 1
"""

BEGIN_ATTEMPT: Final = """
local k = KEYS[1]
local f = redis.call('HMGET', k, 'st', 'ow')
if f[1] ~= 'c' or f[2] ~= ARGV[1] then return -1 end
redis.call('HSET', k, 'le', string.format('%d', tonumber(ARGV[2]) + tonumber(ARGV[3])))
return redis.call('HINCRBY', k, 'a', 1)
"""

SETTLE: Final = """
local k = KEYS[1]
local f = redis.call('HMGET', k, 'st', 'ow')
if f[1] ~= 'c' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', k, 'st', ARGV[2], 'a', ARGV[3], 'at', ARGV[4], 'err', ARGV[5],
  'le', string.format('%d', tonumber(ARGV[6]) + tonumber(ARGV[7])))
return 1
"""

FINISH: Final = """
local st = redis.call('HGET', KEYS[1], 'st')
if st == 's' or st == 'f' then redis.call('HSET', KEYS[1], 'st', 'd') end
return 1
"""

RESTORE: Final = """
-- A done entry rebuilt from an outcome on ixo.notify.deliveries (after Redis lost the ledger);
-- an entry the live notifier wrote meanwhile wins. ARGV: attempts, at, err, ttl_ms
local k = KEYS[1]
if redis.call('EXISTS', k) == 1 then return 0 end
redis.call('HSET', k, 'st', 'd', 'a', ARGV[1], 'at', ARGV[2], 'err', ARGV[3], 'le', '0')
redis.call('PEXPIRE', k, ARGV[4])
return 1
"""

RELEASE: Final = """
local f = redis.call('HMGET', KEYS[1], 'st', 'ow')
if f[1] == 'c' and f[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'le', '0')
  if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], 'a', -1) end
end
return 1
"""

PARK: Final = """
-- KEYS: queue, payload key; ARGV: member, due_ms, payload, ttl_ms
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1
"""

TAKE_DUE: Final = """
-- KEYS: queue; ARGV: prefix, now_ms, hide_ms, limit. Returns member, payload, member, payload...
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, m in ipairs(due) do
  local payload = redis.call('GET', ARGV[1] .. 'j:' .. m)
  if payload then
    redis.call('ZADD', KEYS[1], string.format('%d', tonumber(ARGV[2]) + tonumber(ARGV[3])), m)
    out[#out + 1] = m
    out[#out + 1] = payload
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return out
"""

RESERVE: Final = """
local now, interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - (burst - 1) * interval - now
if wait < 0 then wait = 0 end
local nxt = tat + interval
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', string.format('%d', nxt - now + 1000))
return wait
"""

PUT_RULE: Final = """
-- ARGV: prefix, rule_id, partition, offset, op (put|del), user, channels json, deleted_at
local k = ARGV[1] .. 'r:' .. ARGV[2]
local f = redis.call('HMGET', k, 'p', 'o')
if f[1] == ARGV[3] and tonumber(f[2]) >= tonumber(ARGV[4]) then return 0 end
if ARGV[5] == 'put' then
  redis.call('HSET', k, 'u', ARGV[6], 'c', ARGV[7], 'd', '', 'p', ARGV[3], 'o', ARGV[4])
else
  redis.call('HSET', k, 'u', ARGV[6], 'd', ARGV[8], 'p', ARGV[3], 'o', ARGV[4])
  if not redis.call('HGET', k, 'c') then redis.call('HSET', k, 'c', '[]') end
end
return 1
"""

PUT_SUBSCRIPTION: Final = """
-- ARGV: prefix, id, partition, offset, op (put|del), owner, url, secret, types json, since,
-- all_users (1|0)
local p, id = ARGV[1], ARGV[2]
local k = p .. 's:' .. id
local f = redis.call('HMGET', k, 'p', 'o', 'ty', 'ow', 'del')
if f[1] == ARGV[3] and tonumber(f[2]) >= tonumber(ARGV[4]) then return 0 end
if f[3] and f[5] ~= '1' then
  for _, t in ipairs(cjson.decode(f[3])) do redis.call('SREM', p .. 'st:' .. t, id) end
  redis.call('SREM', p .. 'so:' .. f[4], id)
end
if ARGV[5] == 'put' then
  redis.call('HSET', k, 'ow', ARGV[6], 'url', ARGV[7], 'sec', ARGV[8], 'ty', ARGV[9],
    'since', ARGV[10], 'all', ARGV[11], 'del', '0', 'p', ARGV[3], 'o', ARGV[4])
  for _, t in ipairs(cjson.decode(ARGV[9])) do redis.call('SADD', p .. 'st:' .. t, id) end
  redis.call('SADD', p .. 'so:' .. ARGV[6], id)
else
  redis.call('HSET', k, 'ow', ARGV[6], 'del', '1', 'sec', '', 'p', ARGV[3], 'o', ARGV[4])
  if not f[3] then redis.call('HSET', k, 'ty', '[]') end
end
return 1
"""


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _guard(call: Callable[[], Awaitable[T]]) -> T:
    """Run a Redis call; connection trouble becomes TransientError, the rest PermanentError."""
    try:
        return await call()
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        msg = f"Redis unavailable: {exc}"
        raise TransientError(msg) from None
    except RedisError as exc:
        msg = f"Redis error: {exc}"
        raise PermanentError(msg) from None


def _ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)


class RedisLedger:
    """The delivery ledger (see the module doc); leases in ms of ``clock``."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        lease_s: float,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._r = client
        self._p = prefix
        self._lease_ms = int(lease_s * 1000)
        self._ttl_ms = ttl_s * 1000
        self._clock = clock
        self._claim = client.register_script(CLAIM)
        self._begin = client.register_script(BEGIN_ATTEMPT)
        self._renew = client.register_script(RENEW)
        self._settle = client.register_script(SETTLE)
        self._finish = client.register_script(FINISH)
        self._release = client.register_script(RELEASE)
        self._restore = client.register_script(RESTORE)

    def _key(self, key: str) -> str:
        return f"{self._p}d:{key}"

    async def claim(self, key: str, token: str, *, begin: bool = False) -> Claim:
        raw = await _guard(
            lambda: self._claim(
                keys=[self._key(key)],
                args=[token, _ms(self._clock), self._lease_ms, self._ttl_ms, int(begin)],
            )
        )
        st, attempts, at, err, wait = (_decode(v) for v in raw)
        n = int(attempts or 0)
        status: ClaimStatus
        if st == "busy":
            return Claim("busy", n, wait_s=int(wait) / 1000)
        if st in ("s", "f"):
            status = "sent" if st == "s" else "failed"
            outcome = Outcome(
                "delivered" if st == "s" else "failed",
                n,
                datetime.fromisoformat(at),
                err or None,
            )
            return Claim(status, n, outcome)
        if st == "d":
            return Claim("done", n)
        return Claim("claimed", n)

    async def begin_attempt(self, key: str, token: str) -> int | None:
        n = await _guard(
            lambda: self._begin(
                keys=[self._key(key)], args=[token, _ms(self._clock), self._lease_ms]
            )
        )
        return None if int(n) < 0 else int(n)

    async def renew(self, key: str, token: str) -> bool:
        ok = await _guard(
            lambda: self._renew(
                keys=[self._key(key)], args=[token, _ms(self._clock), self._lease_ms]
            )
        )
        return bool(int(ok))

    async def settle(self, key: str, token: str, outcome: Outcome) -> bool:
        state = "s" if outcome.kind == "delivered" else "f"
        args: list[str | int] = [
            token,
            state,
            outcome.attempts,
            outcome.at.isoformat(),
            outcome.error or "",
            _ms(self._clock),
            self._lease_ms,
        ]
        # The send already happened: try hard to record it before giving up.
        for attempt in range(5):
            try:
                ok = await _guard(lambda: self._settle(keys=[self._key(key)], args=args))
            except TransientError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            return bool(int(ok))
        return False  # pragma: no cover - the loop returns or raises

    async def finish(self, key: str) -> None:
        await _guard(lambda: self._finish(keys=[self._key(key)], args=[]))

    async def release(self, key: str, token: str, *, undo_attempt: bool = False) -> None:
        await _guard(lambda: self._release(keys=[self._key(key)], args=[token, int(undo_attempt)]))

    async def restore(self, key: str, outcome: Outcome) -> None:
        """Record ``key`` as done with ``outcome`` (a rebuild after Redis lost the ledger),
        expiring ``ttl_s`` after the outcome, unless the ledger already has the key."""
        left = self._ttl_ms - (_ms(self._clock) - int(outcome.at.timestamp() * 1000))
        if left <= 0:
            return
        args: list[str | int] = [
            outcome.attempts,
            outcome.at.isoformat(),
            outcome.error or "",
            left,
        ]
        await _guard(lambda: self._restore(keys=[self._key(key)], args=args))

    async def state(self, key: str) -> dict[str, str]:
        """The raw ledger entry of a key (for tools and tests)."""
        raw = await _guard(lambda: self._r.hgetall(self._key(key)))
        return {_decode(k): _decode(v) for k, v in raw.items()}


def dump_job(job: Job) -> str:
    return json.dumps(
        {
            "key": job.key,
            "match_id": job.match_id,
            "user_id": job.user_id,
            "channel": job.channel.model_dump(mode="json"),
            "event": encode(job.event).decode(),
            "bucket": job.bucket,
            "rate_per_s": job.rate_per_s,
            "burst": job.burst,
            "secret": job.secret,
            "expires_at": job.expires_at,
            "reserved": job.reserved,
        }
    )


def load_job(raw: str | bytes) -> Job:
    d = json.loads(raw)
    return Job(
        key=d["key"],
        match_id=d["match_id"],
        user_id=d["user_id"],
        channel=Channel.model_validate(d["channel"]),
        event=decode_any(d["event"]),
        bucket=d["bucket"],
        rate_per_s=float(d["rate_per_s"]),
        burst=int(d["burst"]),
        secret=d.get("secret"),
        expires_at=d.get("expires_at"),
        reserved=bool(d.get("reserved")),
    )


class RedisParking:
    """Parked jobs: ``P q`` sorted set (key -> due ms) and ``P j:<key>`` payloads (the job,
    its event encoded). ``take_due`` hides what it hands out for ``hide_s`` instead of removing
    it, so a resumer that dies leaves the job to another one."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        ttl_s: int,
        hide_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._r = client
        self._p = prefix
        self._ttl_ms = ttl_s * 1000
        self._hide_ms = int(hide_s * 1000)
        self._clock = clock
        self._park = client.register_script(PARK)
        self._take = client.register_script(TAKE_DUE)

    async def park(self, job: Job, due: float) -> None:
        await _guard(
            lambda: self._park(
                keys=[f"{self._p}q", f"{self._p}j:{job.key}"],
                args=[job.key, int(due * 1000), dump_job(job), self._ttl_ms],
            )
        )

    async def take_due(self, limit: int) -> list[Job]:
        raw = await _guard(
            lambda: self._take(
                keys=[f"{self._p}q"],
                args=[self._p, _ms(self._clock), self._hide_ms, limit],
            )
        )
        return [load_job(raw[i + 1]) for i in range(0, len(raw), 2)]

    async def unpark(self, key: str) -> None:
        async def go() -> None:
            pipe = self._r.pipeline(transaction=False)
            pipe.zrem(f"{self._p}q", key)
            pipe.delete(f"{self._p}j:{key}")
            await pipe.execute()

        await _guard(go)


class RedisRateLimiter:
    """A GCRA token bucket per key: ``burst`` at once, then one every ``1/rate`` seconds. A
    caller over the limit is told how long to wait for its reserved slot (delayed, not
    dropped); slots are handed out in arrival order."""

    def __init__(self, client: Redis, prefix: str, *, clock: Callable[[], float] = time.time):
        self._p = prefix
        self._clock = clock
        self._reserve = client.register_script(RESERVE)

    async def reserve(self, bucket: str, rate_per_s: float, burst: int) -> float:
        interval = max(1, math.ceil(1000 / rate_per_s))
        wait = await _guard(
            lambda: self._reserve(
                keys=[f"{self._p}rl:{bucket}"],
                args=[_ms(self._clock), interval, max(1, burst)],
            )
        )
        return int(wait) / 1000


def _rule_route(rule_id: str, raw: dict[Any, Any]) -> RuleRoute | None:
    if not raw:
        return None
    f = {_decode(k): _decode(v) for k, v in raw.items()}
    channels = tuple(Channel.model_validate(c) for c in json.loads(f.get("c") or "[]"))
    deleted = datetime.fromisoformat(f["d"]) if f.get("d") else None
    return RuleRoute(rule_id, f.get("u", ""), channels, deleted)


class RedisDirectory:
    """Rules' channels and subscriptions, folded from their compacted topics (each key keeps
    only events newer, by offset, than the last one applied: replays are harmless)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._r = client
        self._p = prefix
        self._put_rule = client.register_script(PUT_RULE)
        self._put_sub = client.register_script(PUT_SUBSCRIPTION)

    async def apply_rules(self, items: Sequence[Positioned]) -> None:
        calls = []
        for item in items:
            data = item.event.data
            base = [self._p, "", item.partition, item.offset]
            if isinstance(data, AlertRuleCreatedV1 | AlertRuleUpdatedV1):
                channels = json.dumps([c.model_dump(mode="json") for c in data.channels])
                base[1] = data.rule_id
                calls.append([*base, "put", data.user_id, channels, ""])
            elif isinstance(data, AlertRuleDeletedV1):
                base[1] = data.rule_id
                calls.append([*base, "del", data.user_id, "", item.event.time.isoformat()])
        await self._run(self._put_rule, calls)

    async def apply_subscriptions(self, items: Sequence[Positioned]) -> None:
        calls = []
        for item in items:
            data = item.event.data
            if isinstance(data, SubscriptionCreatedV1):
                calls.append(
                    [
                        self._p,
                        data.subscription_id,
                        item.partition,
                        item.offset,
                        "put",
                        data.owner,
                        str(data.url),
                        data.secret_enc,
                        json.dumps(sorted(set(data.event_types))),
                        item.event.time.isoformat(),
                        int(data.all_users),
                    ]
                )
            elif isinstance(data, SubscriptionDeletedV1):
                calls.append(
                    [
                        self._p,
                        data.subscription_id,
                        item.partition,
                        item.offset,
                        "del",
                        data.owner,
                        "",
                        "",
                        "[]",
                        "",
                        0,
                    ]
                )
        await self._run(self._put_sub, calls)

    async def _run(self, script: Any, calls: list[list[Any]]) -> None:
        if not calls:
            return

        async def go() -> None:
            pipe = self._r.pipeline(transaction=False)
            for args in calls:
                await script(keys=[], args=args, client=pipe)
            await pipe.execute()

        await _guard(go)

    async def rule(self, rule_id: str) -> RuleRoute | None:
        raw = await _guard(lambda: self._r.hgetall(f"{self._p}r:{rule_id}"))
        return _rule_route(rule_id, raw)

    async def rules(self, rule_ids: Sequence[str]) -> dict[str, RuleRoute]:
        """Many rules in one round trip (the ones known)."""
        ids = sorted(set(rule_ids))
        if not ids:
            return {}

        async def fetch() -> list[Any]:
            pipe = self._r.pipeline(transaction=False)
            for i in ids:
                pipe.hgetall(f"{self._p}r:{i}")
            return list(await pipe.execute())

        found = zip(ids, await _guard(fetch), strict=True)
        return {i: route for i, raw in found if (route := _rule_route(i, raw)) is not None}

    async def subscriptions_for(self, event_types: set[str]) -> list[SubscriptionRoute]:
        types = sorted(event_types)
        if not types:
            return []

        async def ids() -> list[Any]:
            pipe = self._r.pipeline(transaction=False)
            for t in types:
                pipe.smembers(f"{self._p}st:{t}")
            return list(await pipe.execute())

        found = sorted({_decode(i) for members in await _guard(ids) for i in members})
        return await self._subscriptions(found)

    async def _subscriptions(self, ids: Sequence[str]) -> list[SubscriptionRoute]:
        if not ids:
            return []

        async def fetch() -> list[Any]:
            pipe = self._r.pipeline(transaction=False)
            for i in ids:
                pipe.hgetall(f"{self._p}s:{i}")
            return list(await pipe.execute())

        out = []
        for sid, raw in zip(ids, await _guard(fetch), strict=True):
            f = {_decode(k): _decode(v) for k, v in raw.items()}
            if not f or f.get("del") == "1" or not f.get("sec"):
                continue
            out.append(
                SubscriptionRoute(
                    subscription_id=sid,
                    owner=f["ow"],
                    url=f["url"],
                    secret=f["sec"],
                    event_types=frozenset(json.loads(f.get("ty") or "[]")),
                    since=datetime.fromisoformat(f["since"]),
                    all_users=f.get("all") == "1",
                )
            )
        return out

    async def webhook_secret(self, owner: str, url: str) -> str | None:
        """The secret of ``owner``'s newest live subscription to ``url`` (rule webhooks)."""
        members = await _guard(lambda: self._r.smembers(f"{self._p}so:{owner}"))
        subs = await self._subscriptions(sorted(_decode(m) for m in members))
        mine = [s for s in subs if s.url == url]
        if not mine:
            return None
        return max(mine, key=lambda s: s.since).secret
