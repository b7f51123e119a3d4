"""Build a validated event from loose input (CLI flags, HTTP bodies)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas._catalogue import CATALOGUE, Catalogue, Topic
from schemas._codec import AnyEvent, codec_for, explain
from schemas._envelope import CloudEvent
from schemas._errors import InvalidEvent


def build_event(
    topic: Topic,
    event_type: str,
    data: Any,
    *,
    source: str,
    correlation_id: str | None = None,
    catalogue: Catalogue = CATALOGUE,
) -> AnyEvent:
    """Validate ``data`` as the payload of ``event_type`` and wrap it for ``topic``.

    Raises :class:`InvalidEvent` naming the failing field when the type is unknown, does not
    belong on the topic, or the data fails its schema.
    """
    payload = catalogue.payload(event_type)
    if payload is None:
        known = ", ".join(sorted(topic.type_names)) or "none"
        msg = f"unknown event type {event_type!r} (this topic accepts: {known})"
        raise InvalidEvent(msg, kind="unknown_type", field="type")
    if event_type not in topic.type_names:
        home = catalogue.topic_for_type(event_type).name
        msg = f"{event_type} does not belong on {topic.name} (it goes on {home})"
        raise InvalidEvent(msg, kind="wrong_topic", field="type")
    if not isinstance(data, dict):
        msg = "data: must be a JSON object"
        raise InvalidEvent(msg, kind="invalid_event", field="data")
    try:
        typed = payload.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = ".".join(["data", *(str(p) for p in first["loc"])])
        raise InvalidEvent(explain(err, "data"), kind="invalid_event", field=field) from None
    return CloudEvent.new(typed, source=source, correlation_id=correlation_id)


def validate_event(topic: Topic, raw: bytes | str) -> AnyEvent:
    """Validate a complete CloudEvent (JSON) for ``topic``; raises :class:`InvalidEvent`."""
    return codec_for(topic).decode(raw)
