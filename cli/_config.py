"""Settings for the CLI: read once from the environment, or derived from a local stack's env."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from cli._errors import UsageError
from infra.settings import Settings, get_settings
from schemas import CATALOGUE, Topic

ENV_PREFIX = "IXO_"


def _explain(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        name = ENV_PREFIX + "_".join(str(p) for p in e["loc"]).upper()
        parts.append(f"{name}: {e['msg']}")
    return "invalid setting " + "; ".join(parts)


def load_settings() -> Settings:
    """The process's settings (``IXO_*`` environment); a bad value is a usage error."""
    try:
        return get_settings()
    except ValidationError as err:
        raise UsageError(_explain(err)) from None


def with_env(env: Mapping[str, str]) -> Settings:
    """Settings from the environment, overridden by ``IXO_*`` variables in ``env``."""
    fields: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if key:  # a nested setting: IXO_KAFKA__REPLICATION_FACTOR
            fields.setdefault(section, {})[key] = value
        else:
            fields[section] = value
    try:
        return Settings(**fields)
    except ValidationError as err:
        raise UsageError(_explain(err)) from None


def resolve_topic(name: str, settings: Settings) -> Topic:
    """A catalogue topic or DLQ by catalogue name or prefixed Kafka name (UnknownTopic: exit 2)."""
    return CATALOGUE.topic(name, settings.topic_prefix)
