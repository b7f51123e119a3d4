"""Observed logs as events, with deterministic ids.

The id of a log's event is a UUIDv5 of (chain id, block hash, log index): publishing the same
log again (a restart between Kafka's ack and the checkpoint) gives the same id, which consumers
drop. Its retraction (``removed=true``) has an id of its own (``:removed`` appended), and after
a watch has retracted a reorg (``generation`` > 0) the generation is part of the name too, so a
block that comes back after being retracted is published with ids the consumers have not seen.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Final

from consumers.chain_listener._abi import LogDecoder
from consumers.chain_listener._types import RawLog
from schemas import ChainLogObservedV1, CloudEvent

SOURCE: Final = "/consumers/chain-listener"
EVENT_ID_NAMESPACE: Final = uuid.UUID("0b8f6c3e-54a1-5d0e-8c55-2f4b1e9a7c61")
ANONYMOUS: Final = "anonymous"


def log_event_id(
    chain_id: int, block_hash: str, log_index: int, *, removed: bool = False, generation: int = 0
) -> str:
    name = f"{chain_id}:{block_hash.lower()}:{log_index}"
    if removed:
        name += ":removed"
    if generation:
        name += f":g{generation}"
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def observed(
    chain_id: int, address: str, log: RawLog, decoder: LogDecoder | None
) -> ChainLogObservedV1:
    """The payload of ``log`` (decoded when ``decoder`` knows its event)."""
    found = decoder.decode(log) if decoder is not None else None
    if found is None:
        name = log.topics[0] if log.topics else ANONYMOUS
        args: dict[str, object] = {}
    else:
        name, args = found
    block_time = (
        datetime.fromtimestamp(log.block_timestamp, UTC)
        if log.block_timestamp is not None
        else None
    )
    return ChainLogObservedV1(
        chain_id=chain_id,
        address=address,
        block_number=log.block_number,
        block_hash=log.block_hash,
        tx_hash=log.tx_hash,
        log_index=log.log_index,
        event=name,
        args=args,
        removed=False,
        decoded=found is not None,
        topics=list(log.topics),
        data=log.data,
        block_time=block_time,
        transaction_index=log.transaction_index,
    )


def wrap(data: ChainLogObservedV1, *, generation: int) -> CloudEvent[ChainLogObservedV1]:
    """The envelope of an observed (or retracted) log, its id deterministic."""
    event_id = log_event_id(
        data.chain_id, data.block_hash, data.log_index, removed=data.removed, generation=generation
    )
    return CloudEvent.new(data, source=SOURCE, event_id=event_id, correlation_id=event_id)


def retraction(stored: str) -> ChainLogObservedV1:
    """The ``removed=true`` twin of a payload stored when it was published."""
    return ChainLogObservedV1.model_validate_json(stored).model_copy(update={"removed": True})
