"""Operators' actions on the platform itself, recorded as events."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from schemas._base import EventData
from schemas._types import Id


def dead_letter_id(dlq_topic: str, partition: int, offset: int) -> str:
    """The key of a dead letter: its (unprefixed) topic, partition and offset."""
    return f"{dlq_topic}:{partition}:{offset}"


class DeadLetterRequeuedV1(EventData):
    """A dead letter was published again to its source topic (``ixo dlq requeue``).

    Keyed by the dead letter's position, on a compacted topic: requeue reads it to republish each
    dead letter once, however often it runs.
    """

    event_type: ClassVar[str] = "ixo.dlq.record.requeued.v1"
    key_field: ClassVar[str] = "dead_letter_id"

    dead_letter_id: Id
    """``<dlq topic>:<partition>:<offset>`` (see :func:`dead_letter_id`)."""
    source_topic: str = Field(min_length=1, max_length=300)
    group: str | None = Field(default=None, max_length=300)
    """The consumer group it was requeued for (the one that failed it); None: every group (a
    dead letter written before groups were recorded)."""
    event_id: str | None = Field(default=None, max_length=300)
    partition: int = Field(ge=0, description="Where the copy landed on the source topic")
    offset: int = Field(ge=0)
    by: str = Field(min_length=1, max_length=200, description="Who requeued it")
