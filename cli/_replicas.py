"""Which components run as several processes in one consumer group, and how ``ixo`` says so.

A consumer scales by running more processes in its group (Kafka spreads the partitions); a
producer or a server does not: two market feeds publish every tick twice, two gateways cannot
bind one port, two bots answer every message twice, and the embedder's local Qdrant store opens
in one process only. Decision 0099.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cli._errors import UsageError
from infra.settings import Settings

MAX_REPLICAS: Final = 16

SINGLE: Final[dict[str, str]] = {
    "gateway": "it binds one port: run more gateways on other ports (IXO_GATEWAY_PORT) behind a "
    "load balancer",
    "market-feed": "a second feed would publish every tick twice",
    "x-source": "a second source would read and publish every post twice",
    "telegram-bot": "Telegram delivers updates to one poller",
    "discord-bot": "Discord sends each interaction to one endpoint",
}


def replica_problem(name: str, settings: Settings) -> str | None:
    """Why ``name`` cannot run as several processes with these settings; None when it can."""
    if name in SINGLE:
        return SINGLE[name]
    if name == "embedder" and not settings.qdrant_url:
        return (
            "the local Qdrant store opens in one process only: set IXO_QDRANT_URL (a Qdrant "
            "server) to run several embedders"
        )
    return None


def check_replicas(name: str, count: int, settings: Settings) -> None:
    """UsageError unless ``count`` processes of ``name`` make sense."""
    if not 1 <= count <= MAX_REPLICAS:
        msg = f"--replicas for {name} must be 1 to {MAX_REPLICAS}, not {count}"
        raise UsageError(msg)
    if count > 1 and (problem := replica_problem(name, settings)) is not None:
        msg = f"{name} runs as one process: {problem}"
        raise UsageError(msg)


def parse_replica_options(values: Sequence[str]) -> dict[str, int]:
    """``ixo up --replicas rule-engine=2 --replicas notifier=3`` as {name: count}."""
    counts: dict[str, int] = {}
    for value in values:
        name, sep, number = value.partition("=")
        if not sep or not name or not number.isdigit():
            msg = f"--replicas takes COMPONENT=N (e.g. rule-engine=2), not {value!r}"
            raise UsageError(msg)
        counts[name.strip()] = int(number)
    return counts


def replica_names(name: str, count: int) -> list[str]:
    """The names of ``count`` processes of ``name`` as ``ixo`` shows them: ``rule-engine`` for
    one, ``rule-engine#1`` ... for several."""
    return [name] if count == 1 else [f"{name}#{i}" for i in range(1, count + 1)]


def replica_counts(
    values: Sequence[str], running: Sequence[str], settings: Settings
) -> dict[str, int]:
    """``ixo up``'s ``--replicas`` options checked against the components it runs."""
    counts = parse_replica_options(values)
    for name, count in counts.items():
        if name not in running:
            msg = f"--replicas names {name!r}, which this `ixo up` does not run"
            raise UsageError(msg)
        check_replicas(name, count, settings)
    return counts
