"""The ``chain_logs`` projection: one row per observed log, keyed by (chain id, block hash, log
index). A reorg's retraction (``removed=true``, published after the log itself) marks the row
removed; the same log seen again (the branch came back) clears the mark: the later record wins.
Every record of one contract is on one partition (keyed by address), so the offset orders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any, ClassVar

from consumers.projector._documents import offset_order
from consumers.projector._rows import Positioned, Row
from readmodels import ChainLog, ReadModel
from schemas import CHAIN_LOGS, ChainLogObservedV1, Topic


def chain_log_id(chain_id: int, block_hash: str, log_index: int) -> str:
    return f"{chain_id}:{block_hash.lower()}:{log_index}"


def chain_log_row(log: ChainLogObservedV1, event_id: str, partition: int, offset: int) -> Row:
    key = chain_log_id(log.chain_id, log.block_hash, log.log_index)
    order = offset_order(partition, offset)
    doc: dict[str, Any] = {
        "_id": key,
        "chain_id": log.chain_id,
        "address": log.address.lower(),
        "block_number": log.block_number,
        "block_hash": log.block_hash.lower(),
        "tx_hash": log.tx_hash.lower(),
        "log_index": log.log_index,
        "event": log.event,
        "args": dict(log.args),
        "decoded": log.decoded,
        "removed": log.removed,
        "block_time": None if log.block_time is None else log.block_time.astimezone(UTC),
        "event_id": event_id,
        "order": order,
    }
    return Row(key=key, order=order, doc=doc)


class ChainLogsProjection:
    """Maps ``ixo.chain.log.observed.v1`` events to ``chain_logs`` rows."""

    name: ClassVar[str] = "chain_logs"
    topic: ClassVar[Topic] = CHAIN_LOGS
    document: ClassVar[type[ReadModel]] = ChainLog

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        out = []
        for item in items:
            log = item.event.data
            if isinstance(log, ChainLogObservedV1):
                out.append(chain_log_row(log, item.event.id, item.partition, item.offset))
        return out
