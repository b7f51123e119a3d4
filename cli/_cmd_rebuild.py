"""``ixo rebuild redis``: rebuild components' Redis working state from Kafka (the runbook's
"Redis lost its data" step).

Each component keeps a marker of its state's generation (``<prefix>epoch``) and checks it before
every batch: after a Redis restart without persistence or a ``FLUSHALL`` it rebuilds by itself.
This command forces it **in this process**: it takes the component's rebuild lock, drops the
marker and every key under the component's prefix, rebuilds from the compacted topics and the
event history, writes the marker last and prints what it restored. Running components keep
running: at their next batch they find the lock taken or the marker missing and wait for it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

import typer

from cli import _output as out
from cli._config import load_settings
from infra.settings import Settings

rebuild_app = typer.Typer(
    help="Rebuild working state from the event log (after Redis lost it).", no_args_is_help=True
)


class Component(StrEnum):
    RULE_ENGINE = "rule-engine"
    NOTIFIER = "notifier"
    SCHEDULER = "scheduler"
    ALL = "all"


ORDER = (Component.RULE_ENGINE, Component.NOTIFIER, Component.SCHEDULER)
"""The rule engine first: alerts it publishes during its rebuild reach the rebuilt notifier."""


async def _rebuild(settings: Settings, component: Component) -> dict[str, Any]:
    # The components are imported here, not at the top: the notifier brings aiogram and hikari,
    # seconds of import that every other `ixo` command would pay.
    from consumers.notifier.app import rebuild_state as rebuild_notifier
    from consumers.rule_engine.app import rebuild_state as rebuild_rule_engine
    from consumers.scheduler.app import rebuild_state as rebuild_scheduler

    started = time.monotonic()
    if component is Component.RULE_ENGINE:
        engine = await rebuild_rule_engine(settings)
        found: dict[str, Any] = asdict(engine) if engine is not None else {}
    elif component is Component.NOTIFIER:
        notifier = await rebuild_notifier(settings)
        found = asdict(notifier) if notifier is not None else {}
    else:
        scheduler = await rebuild_scheduler(settings)
        found = asdict(scheduler) if scheduler is not None else {}
    return {"component": str(component), **found, "seconds": round(time.monotonic() - started, 3)}


@rebuild_app.command("redis")
def rebuild_redis(
    component: Annotated[
        Component, typer.Option("--component", "-c", help="Which component's state.")
    ] = Component.ALL,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Drop a component's Redis state and rebuild it from Kafka now.

    rule-engine: rules from ixo.alerts.rules, rule states, prices and watermarks by replaying
    ticks from each rule's last alert; notifier: rule routes and subscriptions, the delivery
    ledger from ixo.notify.deliveries, parked deliveries from recent alerts; scheduler: the
    schedules from ixo.schedules, each task's progress from ixo.tasks.due. Running components
    wait for the rebuild and go on; nothing fires or is delivered twice.
    """
    settings = load_settings()
    chosen = ORDER if component is Component.ALL else (component,)
    results: list[dict[str, Any]] = []
    for name in chosen:
        if not json_:
            out.step(f"rebuilding {name} ...")
        results.append(asyncio.run(_rebuild(settings, name)))
    if json_:
        out.emit_json({"rebuilt": results})
        return
    for found in results:
        details = ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in found.items() if k != "component"
        )
        out.result(f"{found['component']}: {details}")
