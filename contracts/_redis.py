"""Redis adapter of the transaction service's :class:`contracts.TxStore`: one JSON value per
idempotency key, claimed with ``SET NX`` (atomic across processes), kept for ``ttl_s``."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from contracts._transactions import TxRecord
from schemas import TransientError

DEFAULT_TTL_S = 30 * 24 * 3600


class TxStoreUnavailable(TransientError):  # noqa: N818 - reads as what happened
    """Redis does not answer: nothing was sent (the key could not be remembered first)."""


class RedisTxStore:
    """Transactions by idempotency key under ``<prefix>tx:<key>``."""

    def __init__(self, redis: Redis, prefix: str, *, ttl_s: int = DEFAULT_TTL_S) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_s = ttl_s

    def _name(self, key: str) -> str:
        return f"{self._prefix}tx:{key}"

    async def claim(self, record: TxRecord) -> TxRecord | None:
        try:
            stored = await self._redis.set(
                self._name(record.key), record.model_dump_json(), nx=True, ex=self._ttl_s
            )
        except RedisError as exc:
            msg = f"Redis unavailable: {type(exc).__name__}"
            raise TxStoreUnavailable(msg) from None
        if stored:
            return None
        existing = await self.get(record.key)
        if existing is None:  # expired between the two calls: take it
            return await self.claim(record)
        return existing

    async def put(self, record: TxRecord) -> None:
        try:
            await self._redis.set(self._name(record.key), record.model_dump_json(), ex=self._ttl_s)
        except RedisError as exc:
            msg = f"Redis unavailable: {type(exc).__name__}"
            raise TxStoreUnavailable(msg) from None

    async def get(self, key: str) -> TxRecord | None:
        try:
            raw = await self._redis.get(self._name(key))
        except RedisError as exc:
            msg = f"Redis unavailable: {type(exc).__name__}"
            raise TxStoreUnavailable(msg) from None
        return None if raw is None else TxRecord.model_validate_json(raw)
