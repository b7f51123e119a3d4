"""The watches: the compacted ``ixo.chain.watches`` folded into the contracts to follow on this
listener's chain (the last event of each address wins; other chains' watches are left to their
own listeners)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from schemas import ChainWatchAddedV1, ChainWatchRemovedV1, EventData

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watch:
    """A contract to follow, as the last ``ixo.chain.watch.added.v1`` of its address said."""

    chain_id: int
    address: str
    """Checksummed (the key of its logs on ``ixo.chain.logs``)."""
    label: str = ""
    from_block: int | None = None
    confirmations: int | None = None
    abi: tuple[dict[str, Any], ...] | None = None
    artifact: str | None = None

    @property
    def key(self) -> str:
        """The watch's name in the listener's state: ``<chain id>:<lower-case address>``."""
        return f"{self.chain_id}:{self.address.lower()}"

    @property
    def abi_source(self) -> str:
        if self.abi is not None:
            return "abi"
        return f"artifact {self.artifact}" if self.artifact else "none (logs undecoded)"

    @classmethod
    def of(cls, event: ChainWatchAddedV1) -> Watch:
        return cls(
            chain_id=event.chain_id,
            address=str(to_checksum_address(event.address)),
            label=event.label,
            from_block=event.from_block,
            confirmations=event.confirmations,
            abi=tuple(event.abi) if event.abi is not None else None,
            artifact=event.artifact,
        )


class WatchBook:
    """The watches of one chain, folded from watch events in topic order."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self.watches: dict[str, Watch] = {}
        self._foreign: set[int] = set()

    def apply(self, data: EventData) -> Watch | str | None:
        """Fold one event; the watch it added (or changed), the key it removed, or None when it
        is another chain's (or removes a watch that is not there)."""
        if not isinstance(data, ChainWatchAddedV1 | ChainWatchRemovedV1):
            return None
        if data.chain_id != self.chain_id:
            if data.chain_id not in self._foreign:
                self._foreign.add(data.chain_id)
                log.info(
                    "chain listener: watches of chain %d are left to its own listener (this one"
                    " follows chain %d)",
                    data.chain_id,
                    self.chain_id,
                )
            return None
        if isinstance(data, ChainWatchAddedV1):
            watch = Watch.of(data)
            self.watches[watch.key] = watch
            return watch
        key = f"{data.chain_id}:{data.address.lower()}"
        if self.watches.pop(key, None) is None:
            return None
        return key
