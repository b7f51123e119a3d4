"""Values and Protocols of the chain listener: raw logs and headers as the node gives them, a
watch's durable state, and the ports the core talks through (node, checkpoints, Kafka)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from schemas import AnyEvent


@dataclass(frozen=True, slots=True)
class RawLog:
    """One ``eth_getLogs`` entry, hex fields as the node sent them (lower-cased)."""

    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    topics: tuple[str, ...]
    data: str
    transaction_index: int | None = None
    block_timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


class WatchState(BaseModel):
    """What a watch has published, kept in Redis after Kafka acknowledged it.

    ``next_block`` is the first block not yet published; ``hashes`` the (number, hash) of the
    recent blocks published (the reorg window, ascending); ``generation`` counts the reorgs
    retracted, so a block that returns after being retracted gets fresh event ids.
    """

    model_config = ConfigDict(frozen=True)

    next_block: int = Field(ge=0)
    generation: int = Field(default=0, ge=0)
    hashes: tuple[tuple[int, str], ...] = ()


class ChainRpc(Protocol):
    """The node: the adapter maps transport and node errors to :class:`RpcError` /
    :class:`RangeRefused`."""

    async def chain_id(self) -> int: ...

    async def head(self) -> int: ...

    async def logs(self, address: str, first: int, last: int) -> list[RawLog]: ...

    async def headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        """Headers of the blocks that exist among ``numbers`` (missing ones are left out)."""
        ...


class Checkpoints(Protocol):
    """Per-watch state with the published logs of the reorg window, changed atomically, and a
    lease so one process at a time follows a watch."""

    async def load(self, key: str) -> WatchState | None: ...

    async def window_logs(self, key: str, blocks: Iterable[int]) -> list[str]:
        """The stored payloads (JSON) of ``blocks``, in block then log order."""
        ...

    async def commit(
        self,
        key: str,
        owner: str,
        state: WatchState,
        *,
        added: Mapping[int, Sequence[str]],
        dropped: Iterable[int],
    ) -> bool:
        """Write ``state``, store ``added`` payloads by block and forget ``dropped`` blocks' in
        one step; False (nothing written) when ``owner`` no longer holds the watch's lease."""
        ...

    async def claim(self, key: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the watch's lease."""
        ...

    async def release(self, key: str, owner: str) -> None: ...


class LogSink(Protocol):
    async def publish(self, events: Sequence[AnyEvent]) -> None:
        """Return once Kafka acknowledged every event (all in flight at once)."""
        ...


class AbiSource(Protocol):
    """The ABI of a compiled contract by artifact name (``AlertRegistry``)."""

    async def abi(self, artifact: str) -> list[dict[str, Any]]: ...
