"""The node over plain JSON-RPC (HTTP, httpx): the one client of the platform's chain code.

Plain JSON-RPC rather than web3.py: the transaction service needs eight methods and must read
the node's error messages ("nonce too low", "replacement transaction underpriced", "already
known") to recover, which web3.py wraps in exception types that differ between providers; the
chain listener needs four, and web3's per-log formatting costs more than decoding the logs
(decision 0145). Errors are ours: the node down, failing or timing out is
:class:`ChainUnavailable` (transient; :class:`RpcTimedOut` and :class:`RpcHttpError` say which),
an error answer is :class:`RpcRefused` with its code, message and revert data. The URL may carry
a provider's API key in its path or query: messages name only its scheme and host.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import orjson

from contracts._errors import ChainUnavailable, ContractsError

NONCE_TOO_LOW: Final = ("nonce too low", "nonce is too low", "invalid nonce", "old nonce")
UNDERPRICED: Final = ("replacement transaction underpriced", "replacement underpriced")
ALREADY_KNOWN: Final = ("already known", "known transaction", "already imported")
LARGE_ANSWERS: Final = frozenset({"eth_getLogs"})
"""Methods whose answer a provider may refuse as too large with HTTP 413, whatever its body."""


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


class RpcTimedOut(ChainUnavailable):
    """The node did not answer within the client's timeout."""


class RpcHttpError(ChainUnavailable):
    """The node answered an HTTP error without a JSON-RPC answer (or 413 to a large answer)."""

    def __init__(self, text: str, *, status: int) -> None:
        super().__init__(text)
        self.status = status


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
    """One node's JSON-RPC endpoint (HTTP): single calls, batches, and the transaction service's
    methods."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, max_connections: int = 16) -> None:
        self.url = url
        self.where = redacted(url)
        self._ids = itertools.count(1)
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            headers={"content-type": "application/json"},
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, body: Any, method: str) -> Any:
        """The node's answer to ``body`` as parsed JSON (an object, or a list for a batch)."""
        try:
            reply = await self._client.post(self.url, content=orjson.dumps(body))
        except httpx.TimeoutException:
            msg = f"{method} at {self.where}: timed out"
            raise RpcTimedOut(msg) from None
        except httpx.HTTPError as exc:
            msg = f"{method} at {self.where}: {type(exc).__name__}"
            raise ChainUnavailable(msg) from None
        if reply.status_code == 413 and method in LARGE_ANSWERS:
            msg = f"{method} at {self.where}: HTTP 413 (response too large)"
            raise RpcHttpError(msg, status=413)
        try:
            parsed = orjson.loads(reply.content)
        except orjson.JSONDecodeError:
            parsed = None
        if reply.status_code >= 400 and not isinstance(parsed, dict | list):
            msg = f"{method} at {self.where}: HTTP {reply.status_code}"
            raise RpcHttpError(msg, status=reply.status_code)
        if parsed is None:
            msg = f"{method} at {self.where}: the answer is not JSON"
            raise ChainUnavailable(msg)
        return parsed

    def _result(self, answer: Any, method: str) -> Any:
        """The ``result`` of one JSON-RPC answer; its ``error`` as :class:`RpcRefused`."""
        if not isinstance(answer, dict):
            msg = f"{method} at {self.where}: not a JSON-RPC answer"
            raise ChainUnavailable(msg)
        error = answer.get("error")
        if error is not None:
            if not isinstance(error, dict):
                error = {"message": str(error)}
            code = error.get("code")
            message = str(error.get("message", ""))[:300]
            data = error.get("data")
            text = f"{method} at {self.where}: {message} (code {code})"
            raise RpcRefused(
                text,
                code=code if isinstance(code, int) else None,
                message=message,
                data=data if isinstance(data, str) else None,
            )
        if "result" not in answer:
            msg = f"{method} at {self.where}: an answer without a result"
            raise ChainUnavailable(msg)
        return answer["result"]

    def _request(self, method: str, params: list[Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}

    async def call(self, method: str, params: list[Any]) -> Any:
        return self._result(await self._post(self._request(method, params), method), method)

    async def batch(self, method: str, params: Sequence[list[Any]]) -> list[Any]:
        """The results of ``method`` called with each of ``params``, in one request and in their
        order; None for a call the batch answer leaves out. A node without batches answers
        with one error (raised as one call's would be)."""
        body = [self._request(method, p) for p in params]
        slots = {request["id"]: i for i, request in enumerate(body)}
        answers = await self._post(body, method)
        if isinstance(answers, dict):
            self._result(answers, method)
        if not isinstance(answers, list):
            msg = f"{method} at {self.where}: not a batch answer"
            raise ChainUnavailable(msg)
        out: list[Any] = [None] * len(body)
        for answer in answers:
            slot = slots.get(int(answer.get("id") or 0)) if isinstance(answer, dict) else None
            if slot is not None:
                out[slot] = self._result(answer, method)
        return out

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
