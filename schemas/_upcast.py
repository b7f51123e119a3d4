"""Event evolution: ``vN -> vN+1`` upcasters, applied by the codec on decode.

A breaking change to a payload is a new class with a new version (``ixo.x.y.v2``) that replaces
the old one in the catalogue, plus one upcaster that turns a ``v1`` payload into a ``v2`` payload.
Records written before the change (on a compacted topic they stay for ever) then decode as the
newest version: consumers only ever see the types the catalogue lists. Chains are followed
(``v1 -> v2 -> v3``), so each upcaster only knows the step it was written for.

An upcaster takes the old ``data`` object (plain JSON values) and returns the new one; the codec
rewrites the envelope's ``type``. The envelope's other attributes (``id``, ``subject``, ...) are
kept, so the partition key must not change across versions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

UpcastFn = Callable[[dict[str, Any]], dict[str, Any]]
"""Old ``data`` (JSON values) to new ``data``."""

_VERSIONED = re.compile(r"^(?P<family>.+)\.v(?P<version>[0-9]+)$")
MAX_CHAIN = 100


def next_version(event_type: str) -> str:
    """``ixo.market.tick.v1`` -> ``ixo.market.tick.v2``."""
    found = _VERSIONED.match(event_type)
    if found is None:
        msg = f"event type {event_type!r} does not end in .vN"
        raise ValueError(msg)
    return f"{found['family']}.v{int(found['version']) + 1}"


class Upcasters:
    """A registry of ``vN -> vN+1`` steps, by the old type."""

    def __init__(self) -> None:
        self._steps: dict[str, tuple[str, UpcastFn]] = {}

    def register(self, from_type: str, fn: UpcastFn) -> None:
        """Register the step from ``from_type`` to the next version of the same event."""
        to_type = next_version(from_type)
        if from_type in self._steps:
            msg = f"an upcaster from {from_type} is already registered"
            raise ValueError(msg)
        self._steps[from_type] = (to_type, fn)

    def upcaster(self, from_type: str) -> Callable[[UpcastFn], UpcastFn]:
        """Decorator form of :meth:`register`."""

        def decorate(fn: UpcastFn) -> UpcastFn:
            self.register(from_type, fn)
            return fn

        return decorate

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._steps

    def __bool__(self) -> bool:
        return bool(self._steps)

    def latest(self, event_type: str) -> str:
        """The type ``event_type`` ends up as after every registered step (itself if none)."""
        current = event_type
        for _ in range(MAX_CHAIN):
            step = self._steps.get(current)
            if step is None:
                return current
            current = step[0]
        msg = f"upcaster chain from {event_type} is longer than {MAX_CHAIN} steps"
        raise ValueError(msg)

    def upcast(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """An envelope (JSON object) with ``data`` and ``type`` moved to the newest version.

        Returns the envelope unchanged when its type has no upcaster.
        """
        current = envelope
        for _ in range(MAX_CHAIN):
            step = self._steps.get(current.get("type"))  # type: ignore[arg-type]
            if step is None:
                return current
            to_type, fn = step
            data = current.get("data")
            if not isinstance(data, dict):
                return current  # the schema check names the missing or wrong data
            current = {**current, "type": to_type, "data": fn(dict(data))}
        msg = f"upcaster chain from {envelope.get('type')} is longer than {MAX_CHAIN} steps"
        raise ValueError(msg)


UPCASTERS = Upcasters()
"""The catalogue's upcasters (none yet: every event is at its first version)."""
