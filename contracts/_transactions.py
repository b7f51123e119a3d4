"""The transaction service: the platform's transactions, signed here, sent once per key.

- **Idempotent by key.** A request carries its sender's idempotency key (an agent tool call's
  ``<request id>:<call index>``). The signed transaction is remembered under the key (Redis,
  :class:`contracts.RedisTxStore`) *before* it is sent; the same key later finds it and follows
  that transaction to its receipt instead of sending another. A key claimed by a concurrent
  sender is followed too (the claim is atomic).
- **Nonces.** :class:`NonceManager` (one lock, a local next nonce): concurrent sends of one key
  never collide; "nonce too low" / "replacement underpriced" re-read the nonce and sign again.
- **EIP-1559 fees** from ``eth_feeHistory`` (:mod:`contracts._fees`); gas from
  ``eth_estimateGas`` with headroom (a revert there is :class:`TransactionReverted`, with the
  contract's custom error by name).
- **Receipts with a timeout**, recovering on the way: a transaction the node no longer knows
  (dropped from its pool) is sent again as it was (same hash); one whose nonce another
  transaction used (replaced) is signed again with a fresh nonce. No receipt in time is
  :class:`TransactionPending` (transient: ask again with the same key).
- **Events.** ``ixo.chain.tx.submitted.v1`` per signed attempt, then ``.confirmed.v1`` or
  ``.failed.v1``, on ``ixo.chain.txs`` keyed by the transaction id (derived from the key), with
  deterministic event ids: a retried send publishes duplicates consumers drop.

The private key stays in this object (a ``SecretStr`` until signing); it is never logged or put
in an event or error. eth-account (about two seconds to import) loads when the service starts.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from contracts._errors import (
    ChainUnavailable,
    ContractsError,
    IdempotencyConflict,
    TransactionPending,
    TransactionReverted,
)
from contracts._fees import HISTORY_BLOCKS, PERCENTILE, FeePolicy, Fees, fees_from_history
from contracts._keys import load_account
from contracts._nonces import NonceManager
from contracts._reverts import custom_error
from contracts._rpc import JsonRpc, RpcRefused, quantity
from schemas import (
    CHAIN_TXS,
    AnyEvent,
    ChainTxConfirmedV1,
    ChainTxFailedV1,
    ChainTxSubmittedV1,
    CloudEvent,
    EventData,
    Topic,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

log = logging.getLogger(__name__)

TX_NAMESPACE: Final = uuid.UUID("a3c4e0f2-7b5d-5e19-8c2a-4f6d9b1e0c37")
"""uuid5 namespace of transaction ids (from keys) and of their events' ids."""
MAX_NONCE_RETRIES: Final = 8
FEES_TTL_S: Final = 2.0
STORE_CONCURRENCY: Final = 16
"""Store calls in flight at once: a burst of sends must not open a Redis connection each."""
GAS_HEADROOM: Final = 1.2


def tx_id_for(key: str) -> str:
    """The transaction id of an idempotency key (the ``ixo.chain.txs`` record key)."""
    return str(uuid.uuid5(TX_NAMESPACE, key))


def _event_id(tx_id: str, what: str) -> str:
    return str(uuid.uuid5(TX_NAMESPACE, f"{tx_id}:{what}"))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TxRequest(_Frozen):
    """One transaction to send: ``key`` makes it idempotent; ``abi`` (optional) names the
    target's custom errors in a revert message."""

    key: str = Field(min_length=1, max_length=300)
    to: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")
    data: str = Field(default="0x", pattern=r"^0x([0-9a-fA-F]{2})*$")
    value: int = Field(default=0, ge=0)
    gas: int | None = Field(default=None, ge=21_000)
    what: str = Field(default="", max_length=200)
    abi: tuple[Mapping[str, Any], ...] = ()
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Unsigned:
    to: str | None
    data: str
    value: int
    gas: int


class TxAttempt(_Frozen):
    """One signed version of a transaction (a replacement is a new attempt)."""

    tx_hash: str
    raw: str
    """The signed transaction: public once sent, never the key."""
    nonce: int
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


class TxRecord(_Frozen):
    """What a key sent: kept before sending, so a retry follows it instead of sending again."""

    key: str
    tx_id: str
    chain_id: int
    sender: str
    to: str | None
    data: str
    value: int
    what: str = ""
    attempts: tuple[TxAttempt, ...] = Field(min_length=1)

    @property
    def latest(self) -> TxAttempt:
        return self.attempts[-1]

    def same_request(self, request: TxRequest) -> bool:
        return (
            (self.to or "").lower() == (request.to or "").lower()
            and self.data.lower() == request.data.lower()
            and self.value == request.value
        )


class TxLog(_Frozen):
    address: str
    topics: tuple[str, ...]
    data: str
    log_index: int


class TxOutcome(_Frozen):
    """How a transaction ended: ``confirmed`` (status 1) or ``failed`` (reverted in a block)."""

    tx_id: str
    key: str
    status: Literal["confirmed", "failed"]
    tx_hash: str
    nonce: int
    block_number: int
    block_hash: str
    gas_used: int
    effective_gas_price: int
    contract_address: str | None = None
    logs: tuple[TxLog, ...] = ()
    attempts: int = 1


class TxStore(Protocol):
    """Transactions by idempotency key (Redis: :class:`contracts.RedisTxStore`)."""

    async def claim(self, record: TxRecord) -> TxRecord | None:
        """Store ``record`` unless its key has one; returns the existing record, or None."""
        ...

    async def put(self, record: TxRecord) -> None: ...

    async def get(self, key: str) -> TxRecord | None: ...


class _GatedStore:
    """A store whose calls wait for one of ``limit`` slots."""

    def __init__(self, store: TxStore, limit: int) -> None:
        self._store = store
        self._gate = asyncio.Semaphore(limit)

    async def claim(self, record: TxRecord) -> TxRecord | None:
        async with self._gate:
            return await self._store.claim(record)

    async def put(self, record: TxRecord) -> None:
        async with self._gate:
            await self._store.put(record)

    async def get(self, key: str) -> TxRecord | None:
        async with self._gate:
            return await self._store.get(key)


class EventSink(Protocol):
    """Publishes an event once Kafka acknowledged it (:class:`infra.kafka.EventPublisher`)."""

    async def publish(self, event: AnyEvent, topic: Topic) -> Any: ...


class TransactionService:
    """Signs with one key and sends transactions to one node (see the module's description)."""

    def __init__(
        self,
        rpc: JsonRpc,
        private_key: SecretStr,
        store: TxStore,
        events: EventSink,
        *,
        source: str,
        fees: FeePolicy | None = None,
        receipt_timeout_s: float = 120.0,
        poll_s: float = 0.2,
        check_dropped_s: float = 2.0,
    ) -> None:
        self.rpc = rpc
        self._key = private_key
        self._account: LocalAccount | None = None
        self._store = _GatedStore(store, STORE_CONCURRENCY)
        self._events = events
        self.source = source
        self.fees = fees or FeePolicy()
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_s = poll_s
        self.check_dropped_s = check_dropped_s
        self._chain_id: int | None = None
        self._fees_cache: tuple[float, Fees] | None = None
        self.nonces = NonceManager(self._pending_nonce)

    # setup

    async def start(self) -> None:
        """Load the key and read the chain id (idempotent)."""
        if self._account is None:
            self._account = load_account(self._key)
        if self._chain_id is None:
            self._chain_id = await self.rpc.chain_id()

    @property
    def address(self) -> str:
        if self._account is None:
            self._account = load_account(self._key)
        return str(self._account.address)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            msg = "the transaction service is not started"
            raise ContractsError(msg)
        return self._chain_id

    async def aclose(self) -> None:
        await self.rpc.aclose()

    async def _pending_nonce(self) -> int:
        return await self.rpc.nonce(self.address, "pending")

    # the one command

    async def send(self, request: TxRequest) -> TxOutcome:
        """Send ``request`` once per key and wait for its receipt (see the module)."""
        await self.start()
        record = await self._store.get(request.key)
        if record is None:
            record = await self._first_send(request)
        elif not record.same_request(request):
            msg = f"the idempotency key {request.key!r} already sent another transaction"
            raise IdempotencyConflict(msg)
        return await self._settle(record, request)

    async def lookup(self, key: str) -> TxRecord | None:
        """What ``key`` sent, if anything (nothing is sent)."""
        return await self._store.get(key)

    async def _first_send(self, request: TxRequest) -> TxRecord:
        gas = request.gas or await self._estimate(request)
        fees = await self._fees()
        record: TxRecord | None = None
        async with self.nonces.slot() as slot:
            for _ in range(MAX_NONCE_RETRIES):
                unsigned = _Unsigned(request.to, request.data, request.value, gas)
                attempt = self._sign(unsigned, fees, slot.nonce)
                if record is None:
                    record = TxRecord(
                        key=request.key,
                        tx_id=tx_id_for(request.key),
                        chain_id=self.chain_id,
                        sender=self.address,
                        to=request.to,
                        data=request.data,
                        value=request.value,
                        what=request.what,
                        attempts=(attempt,),
                    )
                    existing = await self._store.claim(record)
                    if existing is not None:  # a concurrent sender of this key won
                        if not existing.same_request(request):
                            msg = (
                                f"the idempotency key {request.key!r} already sent another"
                                " transaction"
                            )
                            raise IdempotencyConflict(msg)
                        return existing
                else:
                    record = record.model_copy(update={"attempts": (attempt,)})
                    await self._store.put(record)
                if await self._broadcast(attempt, on_stale=slot.resync):
                    slot.commit()
                    break
            else:
                msg = f"the node kept refusing nonces for {self.address}; try again later"
                raise ChainUnavailable(msg)
        await self._submitted(record, request.correlation_id)
        return record

    async def _broadcast(self, attempt: TxAttempt, *, on_stale: Any) -> bool:
        """Hand one signed transaction to the node; False when its nonce was stale (after
        ``on_stale`` re-read it). Other refusals raise."""
        try:
            await self.rpc.send_raw(attempt.raw)
        except RpcRefused as exc:
            if exc.already_known:
                return True
            if exc.nonce_too_low or exc.underpriced:
                log.info("nonce %s refused (%s); reading it again", attempt.nonce, exc.message[:80])
                await on_stale()
                return False
            msg = f"the node refused the transaction: {exc.message}"
            raise ContractsError(msg) from None
        return True

    async def _estimate(self, request: TxRequest) -> int:
        tx: dict[str, Any] = {
            "from": self.address,
            "data": request.data,
            "value": hex(request.value),
        }
        if request.to is not None:
            tx["to"] = request.to
        try:
            estimate = await self.rpc.estimate_gas(tx)
        except RpcRefused as exc:
            reason = revert_reason(exc, request.abi)
            await self._failed_early(request, reason)
            msg = f"{request.what or 'the transaction'} would revert: {reason}"
            raise TransactionReverted(msg) from None
        return int(estimate * GAS_HEADROOM)

    async def _fees(self) -> Fees:
        """The fees to offer, read again at most every ``FEES_TTL_S`` (a burst of sends asks
        the node once)."""
        now = asyncio.get_running_loop().time()
        if self._fees_cache is not None and now - self._fees_cache[0] < FEES_TTL_S:
            return self._fees_cache[1]
        history = await self.rpc.fee_history(HISTORY_BLOCKS, PERCENTILE)
        fees = fees_from_history(history, self.fees)
        self._fees_cache = (now, fees)
        return fees

    def _sign(self, record: _Unsigned, fees: Fees, nonce: int) -> TxAttempt:
        account = self._account or load_account(self._key)
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "value": record.value,
            "data": record.data,
            "gas": record.gas,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }
        if record.to is not None:
            from eth_utils.address import to_checksum_address

            tx["to"] = to_checksum_address(record.to)
        signed = account.sign_transaction(tx)
        return TxAttempt(
            tx_hash="0x" + bytes(signed.hash).hex(),
            raw="0x" + bytes(signed.raw_transaction).hex(),
            nonce=nonce,
            gas_limit=record.gas,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
        )

    # waiting, recovering

    async def _settle(self, record: TxRecord, request: TxRequest) -> TxOutcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.receipt_timeout_s
        next_check = loop.time() + self.check_dropped_s
        while True:
            found = await self._receipt(record)
            if found is not None:
                attempt, receipt = found
                return await self._finished(record, attempt, receipt, request.correlation_id)
            now = loop.time()
            if now >= deadline:
                msg = (
                    f"{record.what or 'the transaction'} {record.latest.tx_hash}: no receipt"
                    f" after {self.receipt_timeout_s:g}s (it may still land; retry with its key)"
                )
                raise TransactionPending(msg)
            if now >= next_check:
                record = await self._recover(record, request)
                next_check = loop.time() + self.check_dropped_s
            await asyncio.sleep(self.poll_s)

    async def _receipt(self, record: TxRecord) -> tuple[TxAttempt, dict[str, Any]] | None:
        for attempt in reversed(record.attempts):
            receipt = await self.rpc.receipt(attempt.tx_hash)
            if receipt is not None and receipt.get("blockHash"):
                return attempt, receipt
        return None

    async def _recover(self, record: TxRecord, request: TxRequest) -> TxRecord:
        """The latest attempt is neither mined nor known to the node: send it again as it was
        when its nonce is still free (dropped), else sign it again with a fresh nonce
        (replaced: another transaction used the nonce)."""
        latest = record.latest
        if await self.rpc.transaction(latest.tx_hash) is not None:
            return record  # pending in the pool: wait
        if await self._receipt(record) is not None:
            return record  # mined meanwhile: the next poll sees it
        mined = await self.rpc.nonce(record.sender, "latest")
        if mined <= latest.nonce:
            log.warning(
                "transaction dropped by the node; sending it again",
                extra={"tx_id": record.tx_id, "tx_hash": latest.tx_hash, "nonce": latest.nonce},
            )
            try:
                await self.rpc.send_raw(latest.raw)
            except RpcRefused as exc:
                if exc.already_known:
                    return record
                if not (exc.nonce_too_low or exc.underpriced):
                    msg = f"the node refused the transaction: {exc.message}"
                    raise ContractsError(msg) from None
            else:
                return record
        log.warning(
            "transaction replaced (its nonce was used by another); signing it again",
            extra={"tx_id": record.tx_id, "tx_hash": latest.tx_hash, "nonce": latest.nonce},
        )
        await self.nonces.invalidate()
        return await self._replace(record, request)

    async def _replace(self, record: TxRecord, request: TxRequest) -> TxRecord:
        fees = await self._fees()
        latest = record.latest
        async with self.nonces.slot() as slot:
            for _ in range(MAX_NONCE_RETRIES):
                unsigned = _Unsigned(record.to, record.data, record.value, latest.gas_limit)
                attempt = self._sign(unsigned, fees, slot.nonce)
                updated = record.model_copy(update={"attempts": (*record.attempts, attempt)})
                await self._store.put(updated)
                if await self._broadcast(attempt, on_stale=slot.resync):
                    slot.commit()
                    break
            else:
                msg = f"the node kept refusing nonces for {self.address}; try again later"
                raise ChainUnavailable(msg)
        await self._submitted(updated, request.correlation_id)
        return updated

    # events

    async def _publish(self, data: EventData, what: str, correlation_id: str | None) -> None:
        tx_id = str(data.tx_id)  # type: ignore[attr-defined]
        event = CloudEvent.new(
            data,
            source=self.source,
            event_id=_event_id(tx_id, what),
            correlation_id=correlation_id,
        )
        await self._events.publish(event, CHAIN_TXS)

    def _common(self, record: TxRecord) -> dict[str, Any]:
        return {
            "tx_id": record.tx_id,
            "idempotency_key": record.key,
            "chain_id": record.chain_id,
            "sender": record.sender,
            "to": record.to,
            "what": record.what,
        }

    async def _submitted(self, record: TxRecord, correlation_id: str | None) -> None:
        attempt = record.latest
        previous = record.attempts[-2].tx_hash if len(record.attempts) > 1 else None
        data = ChainTxSubmittedV1(
            **self._common(record),
            tx_hash=attempt.tx_hash,
            nonce=attempt.nonce,
            gas_limit=attempt.gas_limit,
            max_fee_per_gas=attempt.max_fee_per_gas,
            max_priority_fee_per_gas=attempt.max_priority_fee_per_gas,
            attempt=len(record.attempts),
            replaces=previous,
        )
        await self._publish(data, f"submitted:{attempt.tx_hash}", correlation_id)

    async def _failed_early(self, request: TxRequest, reason: str) -> None:
        data = ChainTxFailedV1(
            tx_id=tx_id_for(request.key),
            idempotency_key=request.key,
            chain_id=self.chain_id,
            sender=self.address,
            to=request.to,
            what=request.what,
            reason=reason[:500] or "reverted",
        )
        await self._publish(data, "failed:estimate", request.correlation_id)

    async def _finished(
        self,
        record: TxRecord,
        attempt: TxAttempt,
        receipt: dict[str, Any],
        correlation_id: str | None,
    ) -> TxOutcome:
        block_hash = str(receipt["blockHash"]).lower()
        block_number = quantity(receipt["blockNumber"])
        ok = quantity(receipt.get("status", "0x1")) == 1
        outcome = TxOutcome(
            tx_id=record.tx_id,
            key=record.key,
            status="confirmed" if ok else "failed",
            tx_hash=attempt.tx_hash,
            nonce=attempt.nonce,
            block_number=block_number,
            block_hash=block_hash,
            gas_used=quantity(receipt.get("gasUsed", 0)),
            effective_gas_price=quantity(receipt.get("effectiveGasPrice", 0)),
            contract_address=receipt.get("contractAddress") or None,
            logs=tuple(_logs(receipt.get("logs") or ())),
            attempts=len(record.attempts),
        )
        if ok:
            data: EventData = ChainTxConfirmedV1(
                **self._common(record),
                tx_hash=attempt.tx_hash,
                nonce=attempt.nonce,
                block_number=block_number,
                block_hash=block_hash,
                gas_used=outcome.gas_used,
                effective_gas_price=outcome.effective_gas_price,
                contract_address=outcome.contract_address,
            )
            await self._publish(data, f"confirmed:{attempt.tx_hash}", correlation_id)
        else:
            data = ChainTxFailedV1(
                **self._common(record),
                reason="reverted in its block",
                tx_hash=attempt.tx_hash,
                nonce=attempt.nonce,
                block_number=block_number,
                block_hash=block_hash,
            )
            await self._publish(data, f"failed:{attempt.tx_hash}", correlation_id)
        return outcome


def _logs(items: Sequence[Any]) -> list[TxLog]:
    return [
        TxLog(
            address=str(item["address"]).lower(),
            topics=tuple(str(t).lower() for t in item.get("topics") or ()),
            data=str(item.get("data") or "0x").lower(),
            log_index=quantity(item["logIndex"]),
        )
        for item in items
        if isinstance(item, dict)
    ]


def revert_reason(exc: RpcRefused, abi: Sequence[Mapping[str, Any]] = ()) -> str:
    """A custom error's name decoded from the revert data by the ABI, else the node's words."""
    name = custom_error(exc.data, abi)
    if name is not None:
        return name
    return exc.message or "reverted"
