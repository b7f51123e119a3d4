"""The node over JSON-RPC (HTTP, httpx): head, ``eth_getLogs``, headers in batches.

Plain JSON-RPC rather than web3.py: the listener needs four methods, and web3's per-log
formatting (HexBytes, AttributeDict) costs more than decoding the logs (decision 0145). Errors
are ours: a range the node will not serve is :class:`RangeRefused` (the caller halves it),
anything else :class:`RpcError`. The URL may carry a provider's API key in its path or query:
messages name only its scheme and host.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import orjson

from consumers.chain_listener._errors import RangeRefused, RpcError
from consumers.chain_listener._ranges import is_range_refusal
from consumers.chain_listener._types import BlockHeader, RawLog

BATCH: Final = 100
"""Requests per JSON-RPC batch (providers cap batches at 100 to 1,000)."""


def redacted(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: never its path, query or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _log(item: dict[str, Any]) -> RawLog:
    timestamp = item.get("blockTimestamp")
    tx_index = item.get("transactionIndex")
    return RawLog(
        address=str(item["address"]).lower(),
        block_number=_int(item["blockNumber"]),
        block_hash=str(item["blockHash"]).lower(),
        tx_hash=str(item["transactionHash"]).lower(),
        log_index=_int(item["logIndex"]),
        topics=tuple(str(t).lower() for t in item.get("topics") or ()),
        data=str(item.get("data") or "0x").lower(),
        transaction_index=_int(tx_index) if tx_index is not None else None,
        block_timestamp=_int(timestamp) if timestamp is not None else None,
    )


def _header(item: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        number=_int(item["number"]),
        hash=str(item["hash"]).lower(),
        parent_hash=str(item["parentHash"]).lower(),
        timestamp=_int(item["timestamp"]),
    )


class HttpRpc:
    """:class:`consumers.chain_listener.ChainRpc` over HTTP JSON-RPC."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self.where = redacted(url)
        self._ids = itertools.count(1)
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            headers={"content-type": "application/json"},
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, body: Any, method: str) -> Any:
        try:
            reply = await self._client.post(self.url, content=orjson.dumps(body))
        except httpx.TimeoutException:
            msg = f"{method} at {self.where}: timed out"
            if method == "eth_getLogs":
                raise RangeRefused(msg) from None
            raise RpcError(msg) from None
        except httpx.HTTPError as exc:
            msg = f"{method} at {self.where}: {type(exc).__name__}"
            raise RpcError(msg) from None
        if reply.status_code == 413 and method == "eth_getLogs":
            msg = f"{method} at {self.where}: HTTP 413 (response too large)"
            raise RangeRefused(msg)
        try:
            parsed = orjson.loads(reply.content)
        except orjson.JSONDecodeError:
            parsed = None
        if reply.status_code >= 400 and not isinstance(parsed, dict | list):
            msg = f"{method} at {self.where}: HTTP {reply.status_code}"
            raise RpcError(msg)
        if parsed is None:
            msg = f"{method} at {self.where}: the answer is not JSON"
            raise RpcError(msg)
        return parsed

    def _result(self, answer: Any, method: str) -> Any:
        if not isinstance(answer, dict):
            msg = f"{method} at {self.where}: not a JSON-RPC answer"
            raise RpcError(msg)
        error = answer.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = str(error.get("message", error) if isinstance(error, dict) else error)
            text = f"{method} at {self.where}: {message[:300]} (code {code})"
            if method == "eth_getLogs" and is_range_refusal(
                code if isinstance(code, int) else None, message
            ):
                raise RangeRefused(text)
            raise RpcError(text)
        if "result" not in answer:
            msg = f"{method} at {self.where}: an answer without a result"
            raise RpcError(msg)
        return answer["result"]

    async def call(self, method: str, params: list[Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        return self._result(await self._post(body, method), method)

    async def chain_id(self) -> int:
        return _int(await self.call("eth_chainId", []))

    async def head(self) -> int:
        return _int(await self.call("eth_blockNumber", []))

    async def logs(self, address: str, first: int, last: int) -> list[RawLog]:
        found = await self.call(
            "eth_getLogs", [{"address": address, "fromBlock": hex(first), "toBlock": hex(last)}]
        )
        if not isinstance(found, list):
            msg = f"eth_getLogs at {self.where}: the result is not a list"
            raise RpcError(msg)
        try:
            return [_log(item) for item in found]
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"eth_getLogs at {self.where}: a malformed log ({exc})"
            raise RpcError(msg) from None

    async def headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        out: dict[int, BlockHeader] = {}
        wanted = list(numbers)
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start : start + BATCH]
            ids = {next(self._ids): n for n in chunk}
            body = [
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "eth_getBlockByNumber",
                    "params": [hex(n), False],
                }
                for i, n in ids.items()
            ]
            answers = await self._post(body, "eth_getBlockByNumber")
            if isinstance(answers, dict):  # a node without batches answers with one error
                self._result(answers, "eth_getBlockByNumber")
            if not isinstance(answers, list):
                msg = f"eth_getBlockByNumber at {self.where}: not a batch answer"
                raise RpcError(msg)
            for answer in answers:
                number = ids.get(int(answer.get("id") or 0)) if isinstance(answer, dict) else None
                if number is None:
                    continue
                block = self._result(answer, "eth_getBlockByNumber")
                if block is None:
                    continue  # not mined (the chain is shorter than that)
                try:
                    out[number] = _header(block)
                except (KeyError, TypeError, ValueError) as exc:
                    msg = f"eth_getBlockByNumber at {self.where}: a malformed block ({exc})"
                    raise RpcError(msg) from None
        return out
