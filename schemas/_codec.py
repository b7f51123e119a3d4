"""Encode envelopes to bytes and decode bytes to typed envelopes, fast.

The typed path uses pydantic-core's JSON parser straight from bytes (``validate_json``), which
measured faster than ``orjson.loads`` + ``model_validate`` (shared/notes); orjson serves the
untyped paths (peeking at a record that failed validation, filters over raw events).

pydantic-core's parser accepts the non-JSON literals ``NaN`` and ``Infinity``; the codec refuses
them (as the gateway's orjson does), so a record is held to the same JSON as an HTTP body.
Records of an older version of an event are upcast on decode (see ``schemas._upcast``).
"""

from __future__ import annotations

from typing import Annotated, Any, Union

import orjson
from pydantic import Discriminator, Tag, TypeAdapter, ValidationError

from schemas._base import EventData
from schemas._catalogue import CATALOGUE, Topic
from schemas._envelope import CloudEvent
from schemas._errors import InvalidEvent
from schemas._upcast import UPCASTERS, Upcasters

AnyEvent = CloudEvent[Any]


def _type_of(value: Any) -> str | None:
    if isinstance(value, dict):
        found = value.get("type")
        return found if isinstance(found, str) else None
    found = getattr(value, "type", None)
    return found if isinstance(found, str) else None


def _adapter(payloads: tuple[type[EventData], ...]) -> TypeAdapter[AnyEvent]:
    if len(payloads) == 1:
        return TypeAdapter(CloudEvent[payloads[0]])  # type: ignore[valid-type]
    choices = tuple(Annotated[CloudEvent[p], Tag(p.event_type)] for p in payloads)  # type: ignore[valid-type]
    union: Any = Annotated[
        Union[choices],  # noqa: UP007 - a union built at run time needs the subscript form
        Discriminator(
            _type_of, custom_error_type="unknown_type", custom_error_message="unknown event type"
        ),
    ]
    return TypeAdapter(union)


def _first_field(err: ValidationError) -> str | None:
    first = err.errors(include_url=False)[0]
    loc = [str(p) for p in first["loc"] if not (isinstance(p, str) and p.startswith("ixo."))]
    return ".".join(loc) or None


def explain(err: ValidationError, prefix: str = "") -> str:
    """One line naming every failing field: ``data.price: Input should be greater than 0; ...``."""
    parts = []
    for e in err.errors(include_url=False):
        path = [prefix] if prefix else []
        path += [str(p) for p in e["loc"] if not (isinstance(p, str) and p.startswith("ixo."))]
        parts.append(f"{'.'.join(path) or 'event'}: {e['msg']}")
    return "; ".join(parts)


def _refuse_non_json_numbers(raw: bytes | str) -> None:
    """``NaN`` / ``Infinity`` outside strings are not JSON: refuse them like orjson does."""
    if isinstance(raw, str):
        suspect = "NaN" in raw or "Infinity" in raw
    else:
        suspect = b"NaN" in raw or b"Infinity" in raw
    if not suspect:
        return
    try:
        orjson.loads(raw)  # strict: the literals inside strings are fine
    except orjson.JSONDecodeError as exc:
        msg = f"not JSON (NaN and Infinity are not JSON numbers): {exc}"
        raise InvalidEvent(msg, kind="not_json") from None


class EventCodec:
    """The codec of one topic: accepts exactly the event types the catalogue lists for it, and
    older versions of them that ``upcasters`` turns into one of those."""

    def __init__(self, topic: Topic, upcasters: Upcasters = UPCASTERS) -> None:
        self.topic = topic
        self._single = topic.event_types[0].event_type if len(topic.event_types) == 1 else None
        self._adapter = _adapter(topic.event_types) if topic.event_types else None
        self._upcasters = upcasters

    def decode(self, raw: bytes | str) -> AnyEvent:
        """Bytes of one record value to a typed envelope, or :class:`InvalidEvent`."""
        if self._adapter is None:
            msg = f"{self.topic.name} carries no typed events"
            raise InvalidEvent(msg, kind="unknown_type")
        _refuse_non_json_numbers(raw)
        try:
            event = self._adapter.validate_json(raw)
        except ValidationError as err:
            upcast = self._upcast(raw)
            if upcast is None:
                raise self._classify(raw, err) from None
            event = upcast
        else:
            if self._single is not None and event.type != self._single:
                upcast = self._upcast(raw)
                if upcast is None:
                    msg = (
                        f"unknown event type {event.type!r} on {self.topic.name} "
                        f"(expects {self._single})"
                    )
                    raise InvalidEvent(msg, kind="unknown_type", field="type")
                event = upcast
        key = event.data.key()
        if event.subject != key:
            msg = f"subject {event.subject!r} must equal data.{self.topic.key_field} {key!r}"
            raise InvalidEvent(msg, kind="invalid_event", field="subject")
        return event

    def _upcast(self, raw: bytes | str) -> AnyEvent | None:
        """The record as the newest version of its event, when it is an older version of an
        event this topic carries; None otherwise."""
        if not self._upcasters:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        found = value.get("type") if isinstance(value, dict) else None
        if not isinstance(found, str) or found not in self._upcasters:
            return None
        if self._upcasters.latest(found) not in self.topic.type_names:
            return None
        try:
            newest = self._upcasters.upcast(value)
        except Exception as exc:
            msg = f"cannot upcast {found}: {type(exc).__name__}: {exc}"
            raise InvalidEvent(msg, kind="invalid_event", field="data") from None
        assert self._adapter is not None
        try:
            return self._adapter.validate_json(orjson.dumps(newest))
        except ValidationError as err:
            msg = f"{explain(err)} (upcast from {found} to {newest['type']})"
            raise InvalidEvent(msg, kind="invalid_event", field=_first_field(err)) from None

    def _classify(self, raw: bytes | str, err: ValidationError) -> InvalidEvent:
        first = err.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            return InvalidEvent(f"not JSON: {first['msg']}", kind="not_json")
        found = _peek_type(raw) if first["type"] != "unknown_type" else None
        if first["type"] == "unknown_type" or (
            isinstance(found, str) and found not in self.topic.type_names
        ):
            found = found or _peek_type(raw)
            msg = (
                f"unknown event type {found!r} on {self.topic.name} "
                f"(expects one of {', '.join(self.topic.type_names)})"
            )
            return InvalidEvent(msg, kind="unknown_type", field="type")
        field = _first_field(err)
        return InvalidEvent(explain(err), kind="invalid_event", field=field)


def _peek_type(raw: bytes | str) -> Any:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value.get("type") if isinstance(value, dict) else None


def encode(event: AnyEvent) -> bytes:
    """A typed envelope to the bytes of a record value (compact UTF-8 JSON)."""
    return event.__pydantic_serializer__.to_json(event)


def loads(raw: bytes | str) -> Any:
    """Untyped JSON parse (orjson), for tools that filter raw events."""
    return orjson.loads(raw)


_CODECS: dict[str, EventCodec] = {}


def codec_for(topic: Topic) -> EventCodec:
    """The (cached) codec of a topic."""
    codec = _CODECS.get(topic.name)
    if codec is None:
        codec = _CODECS[topic.name] = EventCodec(topic)
    return codec


def decode_any(raw: bytes | str) -> AnyEvent:
    """Decode an event of any catalogue type (the topic is found from its ``type``)."""
    found = _peek_type(raw)
    if not isinstance(found, str):
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            msg = f"not JSON: {exc}"
            raise InvalidEvent(msg, kind="not_json") from None
        msg = "type: missing or not a string"
        raise InvalidEvent(msg, kind="invalid_event", field="type")
    newest = UPCASTERS.latest(found)
    payload = CATALOGUE.payload(newest)
    if payload is None:
        msg = f"unknown event type {found!r}"
        raise InvalidEvent(msg, kind="unknown_type", field="type")
    return codec_for(CATALOGUE.topic_for_type(newest)).decode(raw)
