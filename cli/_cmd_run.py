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
from cli._components import available, resolve
from cli._config import load_settings
from cli._errors import CommandError, UsageError
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
) -> None:
    """Run one component in the foreground; SIGTERM or Ctrl-C stops it cleanly."""
    chosen = resolve(component)
    settings = load_settings()
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
    chosen.runner(settings)


def child_command(name: str) -> list[str]:
    """How ``ixo up`` runs a component: this interpreter, ``-m cli run NAME``."""
    return [sys.executable, "-m", "cli", "run", name]


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
) -> None:
    """Start the local stack, create the topics, and run every available component.

    Components run as child processes with their output prefixed by their name. Ctrl-C or
    SIGTERM stops them (SIGTERM, a grace period, then SIGKILL) and exits 0; the stack keeps
    running (ixo stack down stops it). If a component exits by itself, the others are stopped
    and ixo exits 1.
    """
    settings_now = load_settings()
    if only:
        components = [resolve(name) for name in only]
    else:
        components = []
        for component in available():
            missing = component.requires(settings_now)
            if missing:
                out.note(f"{component.name}: skipped ({missing})")
            else:
                components.append(component)
    if not components:
        msg = "no component is available in this version"
        raise UsageError(msg)
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
    width = max(len(c.name) for c in components)
    gateway = gateway_url(settings) if any(c.name == "gateway" for c in components) else None
    children = [
        ChildSpec(
            c.name,
            child_command(c.name),
            env,
            ready=gateway_ready(gateway) if c.name == "gateway" and gateway else None,
        )
        for c in components
    ]
    index = {c.name: i for i, c in enumerate(components)}
    record = RunningComponents(settings.state_dir)

    def on_line(name: str, line: str) -> None:
        out.prefixed(name, line, width=width, index=index[name])

    def on_started(name: str, pid: int) -> None:
        address = gateway if name == "gateway" and gateway else ""
        record.add(ComponentRecord(name, pid, component_marker(name), address))

    def on_ready() -> None:
        out.result(ready_line([c.name for c in components], gateway), style="bold green")

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
