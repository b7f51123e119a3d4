"""The CloudEvents 1.0 envelope (structured JSON mode) that every Kafka record value carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

import uuid6
from pydantic import BaseModel, ConfigDict, Field

from schemas._base import EventData
from schemas._types import Timestamp

DataT = TypeVar("DataT", bound=EventData)

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


def new_event_id() -> str:
    """A fresh UUIDv7 (time-ordered) as a string."""
    return str(uuid6.uuid7())


def _is_none(value: object) -> bool:
    return value is None


def utc_now() -> datetime:
    return datetime.now(UTC)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event whose ``data`` is a typed payload.

    ``subject`` is the partition key; ``correlationid`` ties every event of one conversation or
    workflow together; ``causationid`` names the event that caused this one. Extension attributes
    that we do not know are kept (``extra="allow"``) so events pass through tools unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=2000)
    time: Timestamp
    subject: str = Field(min_length=1, max_length=200)
    datacontenttype: Literal["application/json"] = "application/json"
    data: DataT
    # CloudEvents has no null attributes: an unset extension is left out.
    correlationid: str | None = Field(default=None, exclude_if=_is_none)
    causationid: str | None = Field(default=None, exclude_if=_is_none)

    @classmethod
    def new(
        cls,
        data: DataT,
        *,
        source: str,
        correlation_id: str | None = None,
        causation: CloudEvent[Any] | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> CloudEvent[DataT]:
        """Wrap a payload in a new envelope.

        The correlation id is taken from ``correlation_id``, else from the causing event, else it
        is the new event's own id (the event starts a new workflow).
        """
        eid = event_id or new_event_id()
        if correlation_id is None and causation is not None:
            correlation_id = causation.correlationid or causation.id
        model: Any = CloudEvent[type(data)]  # type: ignore[misc]
        event: CloudEvent[DataT] = model(
            id=eid,
            type=data.event_type,
            source=source,
            time=time or utc_now(),
            subject=data.key(),
            data=data,
            correlationid=correlation_id or eid,
            causationid=causation.id if causation is not None else None,
        )
        return event
