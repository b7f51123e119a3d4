"""JSON Schema export: one schema per event type (the whole CloudEvent) plus the catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas._catalogue import CATALOGUE, Catalogue
from schemas._envelope import CloudEvent

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(event_type: str, catalogue: Catalogue = CATALOGUE) -> dict[str, Any]:
    """The JSON Schema of one event type's full CloudEvent, ``type`` pinned to its value."""
    payload = catalogue.payload(event_type)
    if payload is None:
        msg = f"unknown event type {event_type!r}"
        raise KeyError(msg)
    schema = TypeAdapter(CloudEvent[payload]).json_schema(mode="validation")  # type: ignore[valid-type]
    schema["$schema"] = SCHEMA_DIALECT
    schema["$id"] = f"{event_type}.json"
    schema["title"] = event_type
    schema["properties"]["type"] = {"const": event_type, "title": "Type", "type": "string"}
    topic = catalogue.topic_for_type(event_type)
    schema["x-ixo-topic"] = topic.name
    schema["x-ixo-key"] = topic.key_field
    if payload.__doc__:
        schema["description"] = " ".join(payload.__doc__.split())
    return schema


def catalogue_document(catalogue: Catalogue = CATALOGUE) -> dict[str, Any]:
    """The topic catalogue as data."""
    return {
        "topics": [
            {
                "name": t.name,
                "key": t.key_field,
                "partitions": t.partitions,
                "retention": t.retention_label,
                "retention_ms": t.retention_ms,
                "compacted": t.compacted,
                "event_types": list(t.type_names),
                "dlq": t.dlq.name,
                "description": t.description,
            }
            for t in catalogue
        ]
    }


def export_schemas(directory: Path, catalogue: Catalogue = CATALOGUE) -> list[Path]:
    """Write ``<type>.json`` for each event type and ``catalogue.json``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in sorted(catalogue.event_types):
        path = directory / f"{event_type}.json"
        path.write_text(json.dumps(event_schema(event_type, catalogue), indent=2) + "\n")
        written.append(path)
    path = directory / "catalogue.json"
    path.write_text(json.dumps(catalogue_document(catalogue), indent=2) + "\n")
    written.append(path)
    return written
