"""The node for the chain listener: head, ``eth_getLogs``, headers in batches, over the
platform's JSON-RPC client (:class:`contracts.JsonRpc`).

Errors are the listener's: a range the node will not serve (a refusal, HTTP 413, or a timeout
of ``eth_getLogs``) is :class:`RangeRefused` (the caller halves it), anything else
:class:`RpcError`. Messages name only the URL's scheme and host, never a provider's API key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from consumers.chain_listener._errors import RangeRefused, RpcError
from consumers.chain_listener._ranges import is_range_refusal
from consumers.chain_listener._types import BlockHeader, RawLog
from contracts import (
    ContractsError,
    JsonRpc,
    RpcHttpError,
    RpcRefused,
    RpcTimedOut,
    quantity,
)

BATCH: Final = 100
"""Requests per JSON-RPC batch (providers cap batches at 100 to 1,000)."""
GET_LOGS: Final = "eth_getLogs"


def _log(item: dict[str, Any]) -> RawLog:
    timestamp = item.get("blockTimestamp")
    tx_index = item.get("transactionIndex")
    return RawLog(
        address=str(item["address"]).lower(),
        block_number=quantity(item["blockNumber"]),
        block_hash=str(item["blockHash"]).lower(),
        tx_hash=str(item["transactionHash"]).lower(),
        log_index=quantity(item["logIndex"]),
        topics=tuple(str(t).lower() for t in item.get("topics") or ()),
        data=str(item.get("data") or "0x").lower(),
        transaction_index=quantity(tx_index) if tx_index is not None else None,
        block_timestamp=quantity(timestamp) if timestamp is not None else None,
    )


def _header(item: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        number=quantity(item["number"]),
        hash=str(item["hash"]).lower(),
        parent_hash=str(item["parentHash"]).lower(),
        timestamp=quantity(item["timestamp"]),
    )


def _refuses_range(exc: ContractsError) -> bool:
    """Whether an ``eth_getLogs`` failure means the range was too large for the node."""
    if isinstance(exc, RpcTimedOut):
        return True
    if isinstance(exc, RpcHttpError):
        return exc.status == 413
    return isinstance(exc, RpcRefused) and is_range_refusal(exc.code, exc.message)


@contextmanager
def _listener_errors(method: str) -> Iterator[None]:
    """The client's errors as the listener's."""
    try:
        yield
    except ContractsError as exc:
        if method == GET_LOGS and _refuses_range(exc):
            raise RangeRefused(str(exc)) from None
        raise RpcError(str(exc)) from None


class HttpRpc:
    """:class:`consumers.chain_listener.ChainRpc` over HTTP JSON-RPC."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self._rpc = JsonRpc(url, timeout_s=timeout_s, max_connections=8)
        self.url = url
        self.where = self._rpc.where

    async def aclose(self) -> None:
        await self._rpc.aclose()

    async def call(self, method: str, params: list[Any]) -> Any:
        with _listener_errors(method):
            return await self._rpc.call(method, params)

    async def chain_id(self) -> int:
        return quantity(await self.call("eth_chainId", []))

    async def head(self) -> int:
        return quantity(await self.call("eth_blockNumber", []))

    async def logs(self, address: str, first: int, last: int) -> list[RawLog]:
        found = await self.call(
            GET_LOGS, [{"address": address, "fromBlock": hex(first), "toBlock": hex(last)}]
        )
        if not isinstance(found, list):
            msg = f"{GET_LOGS} at {self.where}: the result is not a list"
            raise RpcError(msg)
        try:
            return [_log(item) for item in found]
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{GET_LOGS} at {self.where}: a malformed log ({exc})"
            raise RpcError(msg) from None

    async def headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        method = "eth_getBlockByNumber"
        out: dict[int, BlockHeader] = {}
        wanted = list(numbers)
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start : start + BATCH]
            with _listener_errors(method):
                blocks = await self._rpc.batch(method, [[hex(n), False] for n in chunk])
            for number, block in zip(chunk, blocks, strict=True):
                if block is None:
                    continue  # not mined (the chain is shorter than that), or left out
                try:
                    out[number] = _header(block)
                except (KeyError, TypeError, ValueError) as exc:
                    msg = f"{method} at {self.where}: a malformed block ({exc})"
                    raise RpcError(msg) from None
        return out
