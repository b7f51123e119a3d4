"""Versioned collections behind one alias (decision 0128).

The physical collection is named after its model and a sequence number,
``<alias>__<model id>__<revision>__<n>``; the alias (``knowledge``, after the deployment's
topic prefix: tenants can share a Qdrant server) points at the live one. Every writer and
reader goes through the alias, so a rebuilt collection goes live by one atomic alias swap;
the model that built a collection is kept with it (collection metadata).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from consumers.embedder._types import ModelInfo

ALIAS = "knowledge"


def alias_for(prefix: str) -> str:
    """The alias of a deployment: ``<topic prefix>knowledge``."""
    return f"{prefix}{ALIAS}"


def collection_name(alias: str, model: ModelInfo, n: int) -> str:
    return f"{alias}__{model.id}__{model.revision}__{n}"


def sequence_of(alias: str, name: str) -> int | None:
    """The sequence number of one of this alias's collections (``None`` for another name)."""
    found = re.fullmatch(rf"{re.escape(alias)}__[a-z0-9.-]+__[0-9a-f]+__(?P<n>[0-9]+)", name)
    return int(found["n"]) if found else None


def next_name(alias: str, model: ModelInfo, existing: Iterable[str]) -> str:
    """A new collection's name: one past the highest sequence number of any model, so names
    sort by age whatever model built them."""
    numbers = [n for n in (sequence_of(alias, name) for name in existing) if n is not None]
    return collection_name(alias, model, max(numbers, default=0) + 1)


def slug(text: str) -> str:
    """A model id from a name: lower case, runs of other characters as one ``-``."""
    cleaned = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return cleaned[:60] or "model"
