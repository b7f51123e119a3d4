"""The ``chain_logs`` read model: one row per observed log (chain id, block hash, log index).

A log a reorg retracted keeps its row with ``removed`` set (queries leave it out unless asked),
so the table shows what the canonical chain holds and what it once held. Addresses are stored
lower-case (queries match any case); ``args`` are the decoded arguments as the listener gave
them (wide integers as decimal strings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from readmodels._documents import ReadModel


class ChainLog(ReadModel):
    """One smart-contract log as its last event left it."""

    id: str = Field(alias="_id", description="<chain id>:<block hash>:<log index>")
    chain_id: int
    address: str = Field(description="The contract, lower-case")
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    event: str = Field(description="The decoded event's name (or its topic when undecoded)")
    args: dict[str, Any] = Field(default_factory=dict)
    decoded: bool = True
    removed: bool = False
    block_time: datetime | None = None
    event_id: str
    order: str

    class Settings:
        name = "chain_logs"
        # One compound index serves "a contract's logs, newest block first"; FerretDB 1.24
        # re-initialises one compound index cleanly, two indexes not (see Post).
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("address", ASCENDING), ("block_number", DESCENDING)])
        ]
