"""Structured logging: one event per line (key=value for people, JSON with IXO_LOG_JSON=1)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from pydantic import BaseModel, SecretStr

from infra.settings import Settings

REDACTED = "***"
MIN_SECRET = 6
"""Shorter values are not redacted (they would blank out ordinary words)."""


def secret_values(model: BaseModel) -> list[str]:
    """Every non-empty ``SecretStr`` of the settings (nested sections included)."""
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.extend(v for v in value.get_secret_value().split(",") if len(v) >= MIN_SECRET)
        elif isinstance(value, BaseModel):
            found.extend(secret_values(value))
    return found


def _redactor(secrets: Iterable[str]) -> structlog.types.Processor:
    """A processor that blanks every known secret out of every string of an event."""
    known = sorted({s.strip() for s in secrets if len(s.strip()) >= MIN_SECRET}, key=len)[::-1]

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            for secret in known:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(scrub(v) for v in value)
        return value

    def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not known:
            return event
        for key, value in list(event.items()):
            event[key] = scrub(value if not isinstance(value, BaseException) else str(value))
        return event

    return redact


def configure_for(settings: Settings) -> None:
    """Logging as the settings say, with every secret of theirs redacted from every line."""
    configure_logging(settings.log_level, json=settings.log_json, secrets=secret_values(settings))


def configure_logging(
    level: str = "INFO", *, json: bool = False, secrets: Iterable[str] = ()
) -> None:
    """Route stdlib and structlog logs through one structured renderer on stderr; any of
    ``secrets`` in a line (a third-party library logging a URL with a bot token in it, say)
    is replaced by ``***``."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redactor(secrets),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
