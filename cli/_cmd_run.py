"""``ixo up`` (stack, topics and every component in the foreground) and ``ixo run COMPONENT``."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import httpx
import typer

from cli import _output as out
from cli._cmd_contracts import deploy_for_up
from cli._cmd_stack import (
    BrokersOpt,
    FreePortsOpt,
    KafkaChoice,
    KafkaOpt,
    TimeoutOpt,
    start_stack,
)
from cli._cmd_users import announce_operator_token
from cli._components import Component, available, resolve
from cli._config import load_settings
from cli._errors import CommandError, UsageError
from cli._replicas import check_replicas, replica_counts, replica_names
from cli._supervisor import ChildSpec, Probe, supervise
from infra.kafka import ensure_topics
from infra.settings import Settings
from infra.stack import ComponentRecord, RunningComponents

ComponentArg = Annotated[
    str,
    typer.Argument(
        metavar="COMPONENT",
        help="One of: " + ", ".join(c.name for c in available()),
        show_default=False,
    ),
]


def run(
    component: ComponentArg,
    source: Annotated[
        str | None,
        typer.Option(
            help="market-feed: binance, coinbase, file:PATH or sample (IXO_MARKET_SOURCE)",
            show_default=False,
        ),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="market-feed: comma-separated symbols", show_default=False),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            help="market-feed file source: replay speed (0 = as fast as possible)",
            show_default=False,
            min=0,
        ),
    ] = None,
    loop: Annotated[
        bool, typer.Option("--loop", help="market-feed file source: repeat forever")
    ] = False,
    replicas: Annotated[
        int,
        typer.Option(
            "--replicas",
            help="Run N processes of a consumer in its consumer group (Kafka shares the "
            "partitions among them); their output is prefixed NAME#i.",
        ),
    ] = 1,
) -> None:
    """Run one component in the foreground; SIGTERM or Ctrl-C stops it cleanly."""
    chosen = resolve(component)
    settings = load_settings()
    check_replicas(chosen.name, replicas, settings)
    if replicas > 1:
        if (missing := chosen.requires(settings)) is not None:
            msg = f"{chosen.name}: {missing}"
            raise UsageError(msg)
        _run_replicas(chosen.name, replicas)
        return
    feed_options = source is not None or symbols is not None or speed is not None or loop
    if feed_options and chosen.name != "market-feed":
        msg = "--source, --symbols, --speed and --loop apply to market-feed only"
        raise UsageError(msg)
    if feed_options:
        spec = source or settings.market_source
        extra = [f"speed={speed:g}"] if speed is not None else []
        extra += ["loop=1"] if loop else []
        if extra:
            if not spec.startswith(("file:", "sample")):
                msg = "--speed and --loop apply to a file: source only"
                raise UsageError(msg)
            spec += ("&" if "?" in spec else "?") + "&".join(extra)
        update = {"market_source": spec}
        if symbols is not None:
            update["market_symbols"] = symbols
        settings = settings.model_copy(update=update)
    assert chosen.runner is not None
    if chosen.name != "gateway":  # the gateway serves /metrics on its own app
        from infra.metrics import serve_metrics

        serve_metrics(settings, chosen.name)
    chosen.runner(settings)


def _run_replicas(name: str, count: int) -> None:
    """``count`` processes of ``name`` (each ``ixo run NAME``), supervised like ``ixo up``'s;
    one that exits by itself is started again (its group rebalances meanwhile)."""
    names = replica_names(name, count)
    width = max(len(n) for n in names)
    children = [ChildSpec(n, child_command(name), dict(os.environ)) for n in names]
    outcome = asyncio.run(
        supervise(
            children,
            on_line=lambda who, line: out.prefixed(who, line, width=width, index=names.index(who)),
            on_event=out.step,
            on_ready=lambda: out.result(f"ready: {count} processes of {name}", style="bold green"),
            restart=True,
        )
    )
    if outcome.failed:
        who, code = next(iter(outcome.failed.items()))
        msg = f"{who} exited with code {code}; stopped the other processes"
        raise CommandError(msg)


def child_command(name: str) -> list[str]:
    """How ``ixo up`` runs a component: this interpreter, ``-m cli run NAME``."""
    return [sys.executable, "-m", "cli", "run", name]


def _chosen(only: list[str] | None, settings: Settings) -> list[Component]:
    """What ``ixo up`` runs: the ``--only`` ones, else every available component whose
    settings are there (the others are named with what is missing)."""
    if only:
        return [resolve(name) for name in only]
    components = []
    for component in available():
        missing = component.requires(settings)
        if missing:
            out.note(f"{component.name}: skipped ({missing})")
        else:
            components.append(component)
    if not components:
        msg = "no component is available in this version"
        raise UsageError(msg)
    return components


def up(
    no_stack: Annotated[
        bool,
        typer.Option(
            "--no-stack",
            help="Use the services the IXO_* settings point at; do not start the local stack.",
        ),
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this component (repeatable).", show_default=False),
    ] = None,
    kafka: KafkaOpt = KafkaChoice.auto,
    free_ports: FreePortsOpt = False,
    timeout: TimeoutOpt = 180.0,
    brokers: BrokersOpt = None,
    replicas: Annotated[
        list[str] | None,
        typer.Option(
            "--replicas",
            help="COMPONENT=N: run N processes of a consumer in its group (repeatable), "
            "e.g. --replicas rule-engine=2",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the local stack, create the topics, and run every available component.

    Components run as child processes with their output prefixed by their name. Ctrl-C or
    SIGTERM stops them (SIGTERM, a grace period, then SIGKILL) and exits 0; the stack keeps
    running (ixo stack down stops it). If a component exits by itself, the others are stopped
    and ixo exits 1.
    """
    settings_now = load_settings()
    components = _chosen(only, settings_now)
    counts = replica_counts(replicas or [], [c.name for c in components], settings_now)
    settings = load_settings()
    # Children get this process's environment plus the stack's IXO_* settings.
    env = dict(os.environ)
    if no_stack:
        created = asyncio.run(ensure_topics(settings))
        out.step(f"topics: created {len(created)}" if created else "topics: all exist")
    else:
        stack, stack_settings = start_stack(
            settings, kafka, free_ports=free_ports, timeout=timeout, brokers=brokers
        )
        env.update(stack.env())
        settings = stack_settings  # the environment's, pointed at the stack
        if "IXO_ETH_RPC_URL" in stack.env():
            deploy_for_up(settings)
    announce_operator_token(settings)
    env["PYTHONUNBUFFERED"] = "1"
    gateway = gateway_url(settings) if any(c.name == "gateway" for c in components) else None
    processes = [
        (c.name, who) for c in components for who in replica_names(c.name, counts.get(c.name, 1))
    ]
    width = max(len(who) for _, who in processes)
    children = [
        ChildSpec(
            who,
            child_command(name),
            env,
            ready=gateway_ready(gateway) if name == "gateway" and gateway else None,
        )
        for name, who in processes
    ]
    index = {who: i for i, (_, who) in enumerate(processes)}
    record = RunningComponents(settings.state_dir)

    def on_line(name: str, line: str) -> None:
        out.prefixed(name, line, width=width, index=index[name])

    def on_started(name: str, pid: int) -> None:
        address = gateway if name == "gateway" and gateway else ""
        record.add(
            ComponentRecord(name, pid, component_marker(name.split("#", maxsplit=1)[0]), address)
        )

    def on_ready() -> None:
        out.result(ready_line([who for _, who in processes], gateway), style="bold green")

    try:
        outcome = asyncio.run(
            supervise(
                children,
                on_line=on_line,
                on_event=out.step,
                on_started=on_started,
                on_ready=on_ready,
            )
        )
    finally:
        record.clear()
    if not no_stack:
        out.note("the stack keeps running: ixo stack down stops it")
    if outcome.failed:
        name, code = next(iter(outcome.failed.items()))
        msg = f"{name} exited with code {code}; stopped the other components"
        raise CommandError(msg)


def component_marker(name: str) -> str:
    """What the command line of ``ixo up``'s child for ``name`` contains (see child_command)."""
    return f"-m cli run {name}"


def gateway_url(settings: Settings) -> str:
    """Where people reach the gateway (a wildcard bind address is reached on loopback)."""
    host = settings.gateway_host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.gateway_port}"


def gateway_ready(url: str) -> Probe:
    """A probe: True once the gateway's /healthz answers 200 (Kafka and MongoDB reachable)."""

    async def probe() -> bool:
        async with httpx.AsyncClient(timeout=2.0) as client:
            response = await client.get(f"{url}/healthz")
        return response.status_code == httpx.codes.OK

    return probe


def ready_line(names: list[str], gateway: str | None) -> str:
    """The line ``ixo up`` prints once every component is up."""
    running = f"{len(names)} component{'s' if len(names) != 1 else ''} running"
    where = f": gateway {gateway}, API docs {gateway}/docs" if gateway else ""
    return f"ready{where} ({running}; Ctrl-C stops them)"
