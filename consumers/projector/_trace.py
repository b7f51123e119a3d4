"""The ``trace`` projection: every event of the catalogue topics indexed by its correlation id,
so one request's whole story (the chat message, the answer's deltas and tool calls, a rule it
created...) is found in time order without scanning topics.

This module is the pure part: which topics are traced, and the entry each event becomes. The
index itself is the Redis adapter beside it (``_redis.py``, decision 0164): a sorted set per
correlation id, scored by event time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

from pydantic import BaseModel, ConfigDict, Field

from schemas import (
    CATALOGUE,
    AlertRuleCreatedV1,
    AlertRuleDeletedV1,
    AlertRuleUpdatedV1,
    AlertTriggeredV1,
    AnyEvent,
    Topic,
)

TRACE: Final = "trace"
"""The projection's name (``ixo.projector.trace`` is its consumer group)."""
MAX_TRACE_LIMIT: Final = 5000
"""The most events one lookup returns."""


class TraceEntry(BaseModel):
    """One event of a trace: where it is on Kafka and its envelope (never its ``data``)."""

    model_config = ConfigDict(frozen=True)

    correlation_id: str = Field(max_length=200)
    time: datetime
    topic: str = Field(description="The catalogue topic (without the deployment prefix)")
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    type: str
    id: str
    subject: str
    source: str
    causationid: str | None = None

    def view(self) -> dict[str, object]:
        """The entry as the API and ``ixo trace --json`` show it."""
        return {
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "type": self.type,
            "id": self.id,
            "subject": self.subject,
            "source": self.source,
            "causationid": self.causationid,
        }


class Located(Protocol):
    """An event and where it sits in Kafka (a consumer's delivery satisfies this)."""

    @property
    def event(self) -> AnyEvent: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


def traced_topics(skip: Iterable[str] = ()) -> list[Topic]:
    """The catalogue topics the trace indexes: all but ``skip`` (dead-letter topics are not
    indexed: a dead letter's event is indexed where it was first published)."""
    left_out = set(skip)
    return [t for t in CATALOGUE if t.name not in left_out]


def trace_entries(items: Sequence[Located], prefix: str = "") -> list[TraceEntry]:
    """The index entries of a batch; an event without a correlation id is its own trace."""
    out: list[TraceEntry] = []
    for item in items:
        event = item.event
        out.append(
            TraceEntry(
                correlation_id=event.correlationid or event.id,
                time=event.time,
                topic=item.topic.removeprefix(prefix),
                partition=item.partition,
                offset=item.offset,
                type=event.type,
                id=event.id,
                subject=event.subject,
                source=event.source,
                causationid=event.causationid,
            )
        )
    return out


@dataclass(frozen=True)
class Links:
    """What a batch says about linked traces: each rule's correlation id (from its events),
    each alert's rule, and every entry's causation."""

    rules: dict[str, str] = field(default_factory=dict)
    """rule id -> the correlation id of the rule's latest event in the batch."""
    alert_rules: dict[str, str] = field(default_factory=dict)
    """alert event id -> its rule id."""


def links_of(items: Sequence[Located]) -> Links:
    links = Links()
    for item in items:
        event = item.event
        data = event.data
        if isinstance(data, AlertRuleCreatedV1 | AlertRuleUpdatedV1 | AlertRuleDeletedV1):
            links.rules[data.rule_id] = event.correlationid or event.id
        elif isinstance(data, AlertTriggeredV1):
            links.alert_rules[event.id] = data.rule_id
    return links


def linked_entries(
    entries: Sequence[TraceEntry],
    links: Links,
    rule_traces: Mapping[str, str],
    caused_by: Mapping[str, str],
) -> tuple[list[TraceEntry], dict[str, str]]:
    """The extra entries of linked traces, and the events newly linked (event id -> the
    correlation id they were linked to, for the events they cause).

    ``rule_traces`` maps rule ids to their correlation id (known before this batch, updated by
    ``links.rules``); ``caused_by`` maps event ids linked before to their linked trace. Entries
    are walked in time order, so a delivery in the same batch as its alert follows it.
    """
    rules = {**rule_traces, **links.rules}
    linked = dict(caused_by)
    new: dict[str, str] = {}
    extra: list[TraceEntry] = []
    for entry in sorted(entries, key=lambda e: e.time):
        target: str | None = None
        rule_id = links.alert_rules.get(entry.id)
        if rule_id is not None:
            target = rules.get(rule_id)
        if target is None and entry.causationid is not None:
            target = linked.get(entry.causationid)
        if target is None or target == entry.correlation_id:
            continue
        extra.append(entry.model_copy(update={"correlation_id": target}))
        linked[entry.id] = new[entry.id] = target
    return extra, new
