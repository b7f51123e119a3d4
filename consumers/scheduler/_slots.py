"""Deterministic ids: a slot's id names its task and instant, and every event id the scheduler
and its workers publish derives from it, so N processes, a restart or a redelivery always
produce the same ids (consumers deduplicate on them)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Final, Literal

NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:impressox:scheduler")
MAX_ID: Final = 200
SLOT_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"

TaskKind = Literal["task", "schedule"]


def task_key(kind: TaskKind, task_id: str) -> str:
    """The scheduler's key of a task: ``t:<system task name>`` or ``s:<schedule id>`` (so a
    schedule id can never collide with a system task name)."""
    return f"{'t' if kind == 'task' else 's'}:{task_id}"


def slot_time(slot: datetime) -> str:
    """A slot instant as it appears in ids: UTC, whole seconds (``2026-11-24T08:00:00Z``)."""
    return slot.astimezone(UTC).strftime(SLOT_FORMAT)


def slot_id(key: str, slot: datetime) -> str:
    """``<task key>@<slot time>``, e.g. ``s:0193ab...@2026-11-24T08:00:00Z``; a task key too
    long for an id is replaced by its SHA-256 (still deterministic)."""
    stamp = slot_time(slot)
    if len(key) + 1 + len(stamp) > MAX_ID:
        key = "h:" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"{key}@{stamp}"


def due_event_id(slot: str) -> str:
    """The event id of the ``ixo.task.due.v1`` of a slot."""
    return str(uuid.uuid5(NAMESPACE, f"{slot}:due"))


def derived_event_id(cause_id: str, what: str) -> str:
    """The id of an event a worker publishes for ``cause_id`` (``what`` is unique per cause)."""
    return str(uuid.uuid5(NAMESPACE, f"{cause_id}:{what}"))
