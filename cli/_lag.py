"""Consumer lag for ``ixo lag`` and ``ixo groups``: the core lives in ``infra.kafka`` (shared
with the gateway's ``GET /v1/ops/lag``); here an unknown group is a :class:`CommandError`."""

from __future__ import annotations

from collections.abc import Iterable

from cli._errors import CommandError
from infra.kafka import GROUP_NAMESPACE, LagRow, UnknownGroup, group_candidates
from infra.kafka import consumer_lag as _consumer_lag
from infra.kafka import resolve_group as _resolve_group
from infra.settings import Settings

__all__ = ["GROUP_NAMESPACE", "LagRow", "consumer_lag", "group_candidates", "resolve_group"]


def resolve_group(settings: Settings, name: str, existing: Iterable[str]) -> str:
    """The existing consumer group ``name`` stands for; CommandError (exit 1) if none."""
    try:
        return _resolve_group(settings, name, existing)
    except UnknownGroup as exc:
        raise CommandError(str(exc)) from None


async def consumer_lag(settings: Settings, group: str | None = None) -> list[LagRow]:
    """Every (group, topic, partition) with a committed offset, for groups with our prefix
    (see :func:`infra.kafka.consumer_lag`); an unknown ``group`` is a CommandError."""
    try:
        return await _consumer_lag(settings, group)
    except UnknownGroup as exc:
        raise CommandError(str(exc)) from None
