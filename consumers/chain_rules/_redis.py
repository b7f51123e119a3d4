"""Redis adapter of :class:`consumers.chain_rules.RuleLedger`: one JSON value per rule id (kept
after a delete, so a reorg that retracts the cancel can restore the rule)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from consumers.chain_rules._core import RuleDefinition
from schemas import TransientError


class RedisRuleLedger:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def get(self, rule_id: str) -> RuleDefinition | None:
        try:
            raw = await self._redis.get(f"{self._prefix}{rule_id}")
        except RedisError as exc:
            msg = f"Redis unavailable: {type(exc).__name__}"
            raise TransientError(msg) from None
        return None if raw is None else RuleDefinition.model_validate_json(raw)

    async def put(self, definition: RuleDefinition) -> None:
        try:
            key = f"{self._prefix}{definition.rule_id}"
            await self._redis.set(key, definition.model_dump_json())
        except RedisError as exc:
            msg = f"Redis unavailable: {type(exc).__name__}"
            raise TransientError(msg) from None
