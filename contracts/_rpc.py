"""The node over plain JSON-RPC (HTTP, httpx), for sending transactions.

The transaction service needs eight methods and must read the node's error messages ("nonce
too low", "replacement transaction underpriced", "already known") to recover; web3.py would wrap
them in exception types that differ between providers. Errors are ours: the node down or timing
out is :class:`ChainUnavailable` (transient), an error answer is :class:`RpcRefused` with its
code, message and revert data. The URL may carry a provider's API key: messages name only its
scheme and host.
"""

from __future__ import annotations

import itertools
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import orjson

from contracts._errors import ChainUnavailable, ContractsError

NONCE_TOO_LOW: Final = ("nonce too low", "nonce is too low", "invalid nonce", "old nonce")
UNDERPRICED: Final = ("replacement transaction underpriced", "replacement underpriced")
ALREADY_KNOWN: Final = ("already known", "known transaction", "already imported")


def redacted(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: never its path, query or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def quantity(value: Any) -> int:
    """A JSON-RPC quantity (``0x`` hex, or a number) as an int."""
    if isinstance(value, str):
        return int(value, 16)
    return int(value)


class RpcRefused(ContractsError):  # noqa: N818 - reads as what happened
    """The node answered with a JSON-RPC error (``code``, ``message``, revert ``data``)."""

    def __init__(self, text: str, *, code: int | None, message: str, data: str | None) -> None:
        super().__init__(text)
        self.code = code
        self.message = message
        self.data = data

    def says(self, phrases: tuple[str, ...]) -> bool:
        lowered = self.message.lower()
        return any(p in lowered for p in phrases)

    @property
    def nonce_too_low(self) -> bool:
        return self.says(NONCE_TOO_LOW)

    @property
    def underpriced(self) -> bool:
        return self.says(UNDERPRICED)

    @property
    def already_known(self) -> bool:
        return self.says(ALREADY_KNOWN)


class JsonRpc:
    """One node's JSON-RPC endpoint (HTTP)."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self.where = redacted(url)
        self._ids = itertools.count(1)
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            headers={"content-type": "application/json"},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, params: list[Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            reply = await self._client.post(self.url, content=orjson.dumps(body))
        except httpx.HTTPError as exc:
            msg = f"{method} at {self.where}: {type(exc).__name__}"
            raise ChainUnavailable(msg) from None
        try:
            answer = orjson.loads(reply.content)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            msg = f"{method} at {self.where}: HTTP {reply.status_code}, not a JSON-RPC answer"
            raise ChainUnavailable(msg)
        error = answer.get("error")
        if error is not None:
            if not isinstance(error, dict):
                error = {"message": str(error)}
            code = error.get("code")
            message = str(error.get("message", ""))[:300]
            data = error.get("data")
            msg_0 = f"{method} at {self.where}: {message} (code {code})"
            raise RpcRefused(
                msg_0,
                code=code if isinstance(code, int) else None,
                message=message,
                data=data if isinstance(data, str) else None,
            )
        if "result" not in answer:
            msg = f"{method} at {self.where}: an answer without a result"
            raise ChainUnavailable(msg)
        return answer["result"]

    async def chain_id(self) -> int:
        return quantity(await self.call("eth_chainId", []))

    async def nonce(self, address: str, block: str = "pending") -> int:
        return quantity(await self.call("eth_getTransactionCount", [address, block]))

    async def fee_history(self, blocks: int, percentile: float) -> dict[str, Any]:
        found = await self.call("eth_feeHistory", [hex(blocks), "latest", [percentile]])
        if not isinstance(found, dict):
            msg = f"eth_feeHistory at {self.where}: not an object"
            raise ChainUnavailable(msg)
        return found

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        return quantity(await self.call("eth_estimateGas", [tx]))

    async def send_raw(self, raw: str) -> str:
        return str(await self.call("eth_sendRawTransaction", [raw])).lower()

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        found = await self.call("eth_getTransactionReceipt", [tx_hash])
        return found if isinstance(found, dict) else None

    async def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        found = await self.call("eth_getTransactionByHash", [tx_hash])
        return found if isinstance(found, dict) else None
