"""The Redis adapter: rule definitions and states, the threshold index, each symbol's tape,
tick watermarks and the alert outbox.

Keys, under a deployment prefix ``P``:

- ``P r:<rule_id>`` hash: ``v`` version, ``p``/``o`` partition and offset of the last rule
  event applied, ``sym``/``w`` where the rule is indexed; a deleted rule keeps ``v p o`` and
  ``st=x`` (a tombstone, so a replayed older event cannot bring it back).
- ``P rs:<symbol>`` hash: rule_id -> the rule packed in one string (version, phase, cooldown
  end, last fired, kind, threshold, window, cooldown, repeat, user), so one ``HMGET`` reads every
  candidate of a batch.
- ``P i:<symbol>:<set>`` sorted sets of rule ids (``_index.py``).
- ``P s:<symbol>`` hash: ``lp`` last price, ``lt`` its tick time, ``wp``/``wm`` the watermark
  (partition, offset of the last tick applied), ``hs`` the second of the last history point,
  ``ob`` the outbox size, ``pw<window>`` the number of pct_change rules using that window.
- ``P h:<symbol>`` sorted set: the pct_change history, ``<ts_ms>:<price>`` scored by ts_ms.
- ``P o:<symbol>`` hash: the outbox, match_id -> encoded alert event.

Every state change is a Lua script, so it is atomic; each phase of a batch (read, read the
pct_change candidates, commit, clear the outbox) is one script call for all the batch's symbols,
with JSON in and out, so a batch costs four round trips whatever its size and redis-py parses
a handful of reply elements. A tick batch is read (``load``), run through the pure core in
Python, and written back (``commit``) per symbol only if the symbol's watermark and every
changed rule's version are still the ones read (compare-and-set); otherwise the engine reads
that symbol again. A plain Redis (not Cluster) is assumed: scripts derive key names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from consumers.rule_engine._book import Book
from consumers.rule_engine._index import CODE_PHASES, PHASE_CODES, placement
from consumers.rule_engine._matching import (
    FRESH,
    RuleSpec,
    RuleState,
    TickPoint,
)
from consumers.rule_engine._tape import Tape
from consumers.rule_engine._types import (
    OK,
    Applied,
    RuleChange,
    Slice,
    SymbolCommit,
)
from schemas import (
    AlertRuleDeletedV1,
    Condition,
    PermanentError,
    TransientError,
    decimal_str,
)

SEP: Final = "\x1f"
RS: Final = "\x1e"
SPEC_CACHE_MAX: Final = 500_000

_LIB = """
local SEP = '\\31'
local RS = '\\30'
-- redis.call(cmd, key, ...list) in slices (Lua's unpack has a stack limit).
local function many(cmd, key, list)
  for i = 1, #list, 4000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 3999, #list)))
  end
end
local function hmget(key, ids)
  local out = {}
  for i = 1, #ids, 4000 do
    local part = redis.call('HMGET', key, unpack(ids, i, math.min(i + 3999, #ids)))
    for _, x in ipairs(part) do out[#out + 1] = x end
  end
  return out
end
-- Rule ids of a set with a score in [a, b], appended to ids.
local function range(ids, key, a, b)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, a, b)) do ids[#ids + 1] = id end
end
-- The candidates as one string: "id SEP packed-rule" records separated by RS.
local function candidates(p, sym, ids)
  if #ids == 0 then return '' end
  local out = {}
  local found = hmget(p .. 'rs:' .. sym, ids)
  for i, x in ipairs(found) do
    if x then out[#out + 1] = ids[i] .. SEP .. x end
  end
  return table.concat(out, RS)
end
"""

APPLY_RULES = (
    _LIB
    + """
-- ARGV: prefix, JSON list of [rule_id, partition, offset, op (put|del), sym, window,
--       packed rule without its version, set (relative to the symbol), score]
-- Returns [applied (1|0), version] per event.
local p = ARGV[1]
local out = {}
for k, e in ipairs(cjson.decode(ARGV[2])) do
  local id, part, off, op = e[1], e[2], e[3], e[4]
  local rk = p .. 'r:' .. id
  local cur = redis.call('HMGET', rk, 'p', 'o', 'v', 'sym', 'w')
  if cur[2] and cur[1] == part and tonumber(cur[2]) >= tonumber(off) then
    out[k] = {0, tonumber(cur[3])}
  else
    if cur[4] and cur[4] ~= '' then
      local base = p .. 'i:' .. cur[4] .. ':'
      for _, set in ipairs({'up', 'dn', 'xa', 'xb', 'cd'}) do
        redis.call('ZREM', base .. set, id)
      end
      if cur[5] and cur[5] ~= '' then
        redis.call('ZREM', base .. 'pu' .. cur[5], id)
        redis.call('ZREM', base .. 'pd' .. cur[5], id)
        local sk, wf = p .. 's:' .. cur[4], 'pw' .. cur[5]
        if redis.call('HINCRBY', sk, wf, -1) <= 0 then redis.call('HDEL', sk, wf) end
      end
      redis.call('HDEL', p .. 'rs:' .. cur[4], id)
    end
    local v = (tonumber(cur[3]) or 0) + 1
    if op == 'del' then
      redis.call('HSET', rk, 'v', v, 'p', part, 'o', off, 'sym', '', 'w', '', 'st', 'x')
    else
      local sym, w = e[5], e[6]
      redis.call('HSET', rk, 'v', v, 'p', part, 'o', off, 'sym', sym, 'w', w, 'st', '')
      redis.call('HSET', p .. 'rs:' .. sym, id, v .. SEP .. e[7])
      redis.call('ZADD', p .. 'i:' .. sym .. ':' .. e[8], e[9], id)
      if w ~= '' then redis.call('HINCRBY', p .. 's:' .. sym, 'pw' .. w, 1) end
    end
    out[k] = {1, v}
  end
end
return out
"""
)

LOAD = (
    _LIB
    + """
-- ARGV: prefix, JSON list of [sym, lowest price, highest price, latest tick time, first and
--       last tick time (ms)]. Returns JSON: per symbol [state (the s: hash as a flat list),
--       outbox (flat list), history points, candidates].
local p = ARGV[1]
local out = {}
for k, a in ipairs(cjson.decode(ARGV[2])) do
  local sym, lo, hi, tmax = a[1], a[2], a[3], a[4]
  local tfirst, tlast = tonumber(a[5]), tonumber(a[6])
  local flat = redis.call('HGETALL', p .. 's:' .. sym)
  local s = {}
  for i = 1, #flat, 2 do s[flat[i]] = flat[i + 1] end
  local outbox = {}
  if s.ob and tonumber(s.ob) > 0 then outbox = redis.call('HGETALL', p .. 'o:' .. sym) end
  -- History: for each window, the points that can be the reference of a tick of the batch
  -- (those in [t_first - w, t_last - w] and the next one; at most one point per second).
  local hist = {}
  local hk = p .. 'h:' .. sym
  local n = math.floor((tlast - tfirst) / 1000) + 2
  for field, _ in pairs(s) do
    if string.sub(field, 1, 2) == 'pw' then
      local from = string.format('%d', tfirst - tonumber(string.sub(field, 3)) * 1000)
      for _, m in ipairs(redis.call('ZRANGEBYSCORE', hk, from, '+inf', 'LIMIT', 0, n)) do
        hist[#hist + 1] = m
      end
    end
  end
  local xlo, xhi = lo, hi
  if s.lp then
    local lp = tonumber(s.lp)
    if lp < tonumber(lo) then xlo = s.lp end
    if lp > tonumber(hi) then xhi = s.lp end
  end
  local base = p .. 'i:' .. sym .. ':'
  local ids = {}
  range(ids, base .. 'up', '-inf', hi)
  range(ids, base .. 'dn', lo, '+inf')
  range(ids, base .. 'xa', xlo, hi)
  range(ids, base .. 'xb', lo, xhi)
  range(ids, base .. 'cd', '-inf', tmax)
  out[k] = {flat, outbox, table.concat(hist, SEP), candidates(p, sym, ids)}
end
return cjson.encode(out)
"""
)

LOAD_PCT = (
    _LIB
    + """
-- ARGV: prefix, JSON list of [sym, [window, lowest change, highest change]...].
-- Returns JSON: the candidates of each symbol.
local p = ARGV[1]
local out = {}
for k, a in ipairs(cjson.decode(ARGV[2])) do
  local base = p .. 'i:' .. a[1] .. ':'
  local ids = {}
  for i = 2, #a do
    local w = a[i]
    range(ids, base .. 'pu' .. w[1], '-inf', w[3])
    range(ids, base .. 'pd' .. w[1], w[2], '+inf')
  end
  out[k] = candidates(p, a[1], ids)
end
return cjson.encode(out)
"""
)

COMMIT = (
    _LIB
    + """
-- ARGV: prefix, JSON list of per-symbol outcomes (see RedisRuleStore._outcome), and every
--       alert event of the batch end to end; outcome.ob lists (match_id, first, last) of the
--       symbol's events in that string (1-based, inclusive).
-- Returns per symbol 1 (written), 0 (the watermark moved) or -1 (a changed rule's version).
local p = ARGV[1]
local function commit(c)
  local sym = c.sym
  local sk = p .. 's:' .. sym
  local cur = redis.call('HMGET', sk, 'wp', 'wm')
  if (cur[1] or '') ~= c.ew or (cur[2] or '') ~= c.em then return 0 end
  local rsk = p .. 'rs:' .. sym
  if #c.ids > 0 then
    local now = hmget(rsk, c.ids)
    for i, x in ipairs(now) do
      if not x or string.match(x, '^[^' .. SEP .. ']*') ~= c.vs[i] then return -1 end
    end
  end
  if c.hs ~= '' then
    redis.call('HSET', sk, 'wp', c.wp, 'wm', c.wm, 'lp', c.lp, 'lt', c.lt, 'hs', c.hs)
  else
    redis.call('HSET', sk, 'wp', c.wp, 'wm', c.wm, 'lp', c.lp, 'lt', c.lt)
  end
  local hk = p .. 'h:' .. sym
  if #c.hist > 0 then many('ZADD', hk, c.hist) end
  if c.trim == 'all' then
    redis.call('DEL', hk)
    redis.call('HDEL', sk, 'hs')
  elseif c.trim ~= '' then
    redis.call('ZREMRANGEBYSCORE', hk, '-inf', '(' .. c.trim)
  end
  local base = p .. 'i:' .. sym .. ':'
  for set, ids in pairs(c.zrem) do many('ZREM', base .. set, ids) end
  for set, list in pairs(c.zadd) do many('ZADD', base .. set, list) end
  if #c.rs > 0 then many('HSET', rsk, c.rs) end
  if #c.ob > 0 then
    local outbox = {}
    for i = 1, #c.ob, 3 do
      outbox[#outbox + 1] = c.ob[i]
      outbox[#outbox + 1] = string.sub(ARGV[3], c.ob[i + 1], c.ob[i + 2])
    end
    many('HSET', p .. 'o:' .. sym, outbox)
    redis.call('HINCRBY', sk, 'ob', #outbox / 2)
  end
  return 1
end
local out = {}
for k, c in ipairs(cjson.decode(ARGV[2])) do out[k] = commit(c) end
return out
"""
)

ACK = """
-- ARGV: prefix, JSON object: symbol -> match ids to drop from its outbox.
local p = ARGV[1]
for sym, ids in pairs(cjson.decode(ARGV[2])) do
  local ok = p .. 'o:' .. sym
  for i = 1, #ids, 4000 do
    redis.call('HDEL', ok, unpack(ids, i, math.min(i + 3999, #ids)))
  end
  redis.call('HSET', p .. 's:' .. sym, 'ob', redis.call('HLEN', ok))
end
return 1
"""

SNAPSHOT = """
-- ARGV: prefix, sym
local p, sym = ARGV[1], ARGV[2]
local s = redis.call('HGETALL', p .. 's:' .. sym)
local hist = redis.call('ZRANGE', p .. 'h:' .. sym, 0, -1)
return {s, hist, redis.call('HGETALL', p .. 'rs:' .. sym)}
"""

SCRIPTS: Final = {
    "apply": APPLY_RULES,
    "ack": ACK,
    "load": LOAD,
    "load_pct": LOAD_PCT,
    "commit": COMMIT,
    "snapshot": SNAPSHOT,
}


def _history_point(member: str | bytes) -> tuple[int, Decimal]:
    text = member.decode() if isinstance(member, bytes) else member
    ts, _, price = text.partition(":")
    return int(ts), Decimal(price)


def _map_error(exc: RedisError) -> Exception:
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return TransientError(f"Redis unavailable: {exc}")
    return PermanentError(f"Redis error: {exc}")


def _definition(spec: RuleSpec) -> str:
    """The packed definition of a rule (after its version and state)."""
    return SEP.join(
        (
            spec.kind,
            spec.score,
            str(spec.window_s or ""),
            str(spec.cooldown_ms // 1000),
            "1" if spec.repeat else "0",
            spec.user_id,
        )
    )


def _state(state: RuleState) -> str:
    fired = "" if state.last_fired_ms is None else str(state.last_fired_ms)
    return f"{PHASE_CODES[state.phase]}{SEP}{state.until_ms}{SEP}{fired}"


def _pairs(flat: Sequence[str] | dict[str, Any]) -> dict[str, str]:
    """A flat [field, value, ...] list (an empty one comes back from cjson as {}) as a dict."""
    if isinstance(flat, dict):
        return {}
    return dict(zip(flat[0::2], flat[1::2], strict=True))


def _tape(symbol: str, state: Mapping[str, str], hist: Iterable[str | bytes]) -> Tape:
    """A symbol's tape from its state hash (``lp lt hs`` and ``pw<window>`` fields)."""
    last, last_ts, hs = state.get("lp"), state.get("lt"), state.get("hs")
    return Tape(
        symbol,
        (int(k[2:]) for k in state if k.startswith("pw")),
        last_price=Decimal(last) if last else None,
        last_ts_ms=int(last_ts) if last_ts else None,
        history=(_history_point(m) for m in hist),
        history_second=int(hs) if hs else None,
    )


class RedisRuleStore:
    """Rule index, rule states and symbol tapes in Redis, under ``prefix`` (a
    :class:`consumers.rule_engine._types.RuleStore`)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._shas: dict[str, str] = {}
        self._specs: dict[tuple[str, str], RuleSpec] = {}
        self._defs: dict[tuple[str, int], str] = {}

    # -- plumbing ---------------------------------------------------------------------------

    async def _load_scripts(self) -> None:
        try:
            for name, text in SCRIPTS.items():
                self._shas[name] = await self.client.script_load(text)
        except RedisError as exc:
            raise _map_error(exc) from None

    async def _call(self, script: str, args: Sequence[Any]) -> Any:
        """Run one of our scripts (by sha; loaded again if Redis lost it, e.g. on a restart:
        every script here is guarded by offsets, watermarks or versions, so a re-run is
        harmless)."""
        if not self._shas:
            await self._load_scripts()
        try:
            try:
                return await self.client.evalsha(self._shas[script], 0, *args)
            except NoScriptError:
                await self._load_scripts()
                return await self.client.evalsha(self._shas[script], 0, *args)
        except RedisError as exc:
            raise _map_error(exc) from None

    # -- rules ------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[RuleChange]) -> list[Applied]:
        """Apply rule events in order; an event not newer than the stored rule is ignored."""
        if not changes:
            return []
        events: list[list[str]] = []
        for change in changes:
            rule = change.rule
            head = [rule.rule_id, str(change.partition), str(change.offset)]
            if isinstance(rule, AlertRuleDeletedV1):
                events.append([*head, "del"])
                continue
            spec = RuleSpec.of(rule)
            where = placement(spec, FRESH)
            assert where is not None  # a fresh rule is armed, so it is indexed
            packed = f"{_state(FRESH)}{SEP}{_definition(spec)}"
            events.append([*head, "put", rule.symbol, str(spec.window_s or ""), packed, *where])
        results = await self._call("apply", (self.prefix, orjson.dumps(events)))
        return [
            Applied(c.rule.rule_id, bool(r[0]), int(r[1]))
            for c, r in zip(changes, results, strict=True)
        ]

    async def get_rule(self, rule_id: str) -> tuple[RuleSpec, RuleState] | None:
        """A rule as the engine holds it (its definition at its current version, its state)."""
        try:
            found: list[bytes | None] = await self.client.hmget(  # type: ignore[assignment]
                f"{self.prefix}r:{rule_id}", ["sym", "st"]
            )
            symbol, tomb = found
            if not symbol or tomb == b"x":
                return None
            packed: bytes | None = await self.client.hget(  # type: ignore[assignment]
                f"{self.prefix}rs:{symbol.decode()}", rule_id
            )
        except RedisError as exc:
            raise _map_error(exc) from None
        if not packed:
            return None
        return self._rule(symbol.decode(), f"{rule_id}{SEP}{packed.decode()}")

    def _rule(self, symbol: str, record: str) -> tuple[RuleSpec, RuleState]:
        """A rule from its record: its id, then its packed form (see the module doc)."""
        rule_id, v, st, until, fired, rest = record.split(SEP, 5)
        spec = self._specs.get((rule_id, v))
        if spec is None:
            kind, threshold, window, cooldown, repeat, user = rest.split(SEP)
            condition = Condition.model_validate(
                {
                    "kind": kind,
                    "threshold": Decimal(threshold),
                    "window_s": int(window) if window else None,
                }
            )
            spec = RuleSpec(
                rule_id=rule_id,
                user_id=user,
                symbol=symbol,
                condition=condition,
                cooldown_ms=int(cooldown) * 1000,
                repeat=repeat == "1",
                version=int(v),
                score=threshold,
            )
            if len(self._specs) >= SPEC_CACHE_MAX:
                self._specs.clear()
                self._defs.clear()
            self._specs[rule_id, v] = spec
            self._defs[rule_id, spec.version] = rest
        state = RuleState(CODE_PHASES[st], int(until), int(fired) if fired else None)
        return spec, state

    def _rules(self, symbol: str, records: str) -> list[tuple[RuleSpec, RuleState]]:
        if not records:
            return []
        return [self._rule(symbol, r) for r in records.split(RS)]

    def _packed(self, spec: RuleSpec, state: RuleState) -> str:
        rest = self._defs.get((spec.rule_id, spec.version)) or _definition(spec)
        return f"{spec.version}{SEP}{_state(state)}{SEP}{rest}"

    async def restore_states(self, states: Sequence[tuple[str, RuleState]]) -> None:
        """Put applied rules in the given states, index included (a rebuild, for rules whose
        last fire is older than the ticks it can replay; see ``_rebuild.py``). Rules not held
        are skipped."""
        for rule_id, state in states:
            try:
                raw: list[bytes | None] = await self.client.hmget(  # type: ignore[assignment]
                    f"{self.prefix}r:{rule_id}", ["sym", "st"]
                )
                symbol, tomb = raw
                if not symbol or tomb == b"x":
                    continue
                sym = symbol.decode()
                packed: bytes | None = await self.client.hget(  # type: ignore[assignment]
                    f"{self.prefix}rs:{sym}", rule_id
                )
                if not packed:
                    continue
                spec, before = self._rule(sym, f"{rule_id}{SEP}{packed.decode()}")
                old, new = placement(spec, before), placement(spec, state)
                base = f"{self.prefix}i:{sym}:"
                pipe = self.client.pipeline(transaction=True)
                pipe.hset(f"{self.prefix}rs:{sym}", rule_id, self._packed(spec, state))
                if old is not None:
                    pipe.zrem(base + old[0], rule_id)
                if new is not None:
                    pipe.zadd(base + new[0], {rule_id: float(new[1])})
                await pipe.execute()
            except RedisError as exc:
                raise _map_error(exc) from None

    # -- ticks ------------------------------------------------------------------------------

    async def load(self, batches: Mapping[str, Sequence[TickPoint]]) -> dict[str, Slice]:
        """Read, for each symbol's ticks (in offset order), everything they can touch."""
        symbols = list(batches)
        asks = []
        for symbol in symbols:
            ticks = batches[symbol]
            prices = [t.price for t in ticks]
            times = [t.ts_ms for t in ticks]
            low, high = min(prices), max(prices)
            asks.append(
                [
                    symbol,
                    decimal_str(low),
                    decimal_str(high),
                    str(max(times)),
                    str(min(times)),
                    str(max(times)),
                ]
            )
        replies = orjson.loads(await self._call("load", (self.prefix, orjson.dumps(asks))))
        slices: dict[str, Slice] = {}
        pct: list[list[Any]] = []
        for symbol, (flat, outbox, hist, records) in zip(symbols, replies, strict=True):
            state = _pairs(flat)
            tape = _tape(symbol, state, hist.split(SEP) if hist else ())
            wp, wm = state.get("wp", ""), state.get("wm", "")
            part = int(wp) if wp else None
            mark = int(wm) if wm else -1
            contexts = [
                tape.advance(t)
                for t in batches[symbol]
                if not (t.partition == part and t.offset <= mark)
            ]
            slices[symbol] = Slice(
                symbol,
                tape,
                contexts,
                self._rules(symbol, records),
                {k: v.encode() for k, v in _pairs(outbox).items()},
                (wp, wm),
            )
            if tape.windows and contexts:
                ask: list[Any] = [symbol]
                for w in tape.windows:
                    seen = [c.changes[w] for c in contexts if w in c.changes]
                    if seen:
                        ask.append([str(w), decimal_str(min(seen)), decimal_str(max(seen))])
                if len(ask) > 1:
                    pct.append(ask)
        if pct:
            found = orjson.loads(await self._call("load_pct", (self.prefix, orjson.dumps(pct))))
            for ask, records in zip(pct, found, strict=True):
                slices[ask[0]].rules.extend(self._rules(ask[0], records))
        return slices

    async def commit(self, commits: Sequence[SymbolCommit]) -> dict[str, int]:
        """Write each symbol's outcome atomically if nothing it read has changed meanwhile.

        Returns per symbol :data:`OK`, :data:`WATERMARK_MOVED` (another engine processed the
        symbol) or :data:`RULE_CHANGED` (a rule event changed a rule the batch changed).
        """
        todo = [c for c in commits if c.slice.contexts]
        out = {c.slice.symbol: OK for c in commits}
        if not todo:
            return out
        outcomes = []
        events: list[bytes] = []
        at = 1
        for c in todo:
            outcome = self._outcome(c)
            where: list[Any] = []
            for mid, event in c.alerts:
                where += [mid, at, at + len(event) - 1]
                at += len(event)
                events.append(event)
            outcome["ob"] = where
            outcomes.append(outcome)
        args = (self.prefix, orjson.dumps(outcomes), b"".join(events))
        results = await self._call("commit", args)
        for c, result in zip(todo, results, strict=True):
            out[c.slice.symbol] = int(result)
        return out

    def _outcome(self, c: SymbolCommit) -> dict[str, Any]:
        """What to write for one symbol (JSON for the commit script; strings only)."""
        sl, tape = c.slice, c.slice.tape
        last = sl.contexts[-1].tick
        # Trimming the history is lazy (``Tape.trim_before``), or all of it once no pct_change
        # rule is left.
        cut = tape.trim_before()
        trim = "all" if tape.history_dropped else ("" if cut is None else str(cut))
        hist: list[str] = []
        for ts, price in tape.appended:
            hist += [str(ts), f"{ts}:{decimal_str(price)}"]
        ids: list[str] = []
        versions: list[str] = []
        packed: list[str] = []
        zrem: dict[str, list[str]] = {}
        zadd: dict[str, list[str]] = {}
        for spec, state in c.changed:
            rid = spec.rule_id
            ids.append(rid)
            versions.append(str(spec.version))
            packed += [rid, self._packed(spec, state)]
            old = placement(spec, c.before[rid])
            new = placement(spec, state)
            if old is not None and (new is None or old[0] != new[0]):
                zrem.setdefault(old[0], []).append(rid)
            if new is not None:
                zadd.setdefault(new[0], []).extend((new[1], rid))
        return {
            "sym": sl.symbol,
            "ew": sl.watermark[0],
            "em": sl.watermark[1],
            "wp": str(last.partition),
            "wm": str(last.offset),
            "lp": decimal_str(last.price),
            "lt": str(last.ts_ms),
            "hs": "" if tape.history_second is None else str(tape.history_second),
            "trim": trim,
            "hist": hist,
            "ids": ids,
            "vs": versions,
            "rs": packed,
            "zrem": zrem,
            "zadd": zadd,
        }

    async def ack(self, published: Mapping[str, Sequence[str]]) -> None:
        """Drop published alerts (by match_id) from each symbol's outbox."""
        todo = {symbol: ids for symbol, ids in published.items() if ids}
        if todo:
            await self._call("ack", (self.prefix, orjson.dumps(todo)))

    # -- inspection -------------------------------------------------------------------------

    async def snapshot(self, symbol: str) -> Book:
        """Every rule of ``symbol`` with its state, and the symbol's tape, as a :class:`Book`
        (the benchmark's naive evaluator; tests)."""
        state, hist, flat = await self._call("snapshot", (self.prefix, symbol))
        text = [x.decode() for x in flat]
        rules = [
            self._rule(symbol, f"{i}{SEP}{x}") for i, x in zip(text[0::2], text[1::2], strict=True)
        ]
        return Book(_tape(symbol, _pairs([x.decode() for x in state]), hist), rules)

    async def outbox(self, symbol: str) -> dict[str, bytes]:
        """Alerts of ``symbol`` committed but not yet acknowledged as published."""
        try:
            raw: dict[bytes, bytes] = await self.client.hgetall(  # type: ignore[assignment]
                f"{self.prefix}o:{symbol}"
            )
        except RedisError as exc:
            raise _map_error(exc) from None
        return {k.decode(): v for k, v in raw.items()}

    async def clear(self) -> int:
        """Delete every key under the prefix (tests, benchmarks); returns how many."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        deleted = 0
        try:
            batch: list[bytes] = []
            async for key in self.client.scan_iter(match=pattern, count=5000):
                batch.append(key)
                if len(batch) >= 5000:
                    deleted += await self.client.unlink(*batch)
                    batch = []
            if batch:
                deleted += await self.client.unlink(*batch)
        except RedisError as exc:
            raise _map_error(exc) from None
        return deleted
