"""``ixo stack up|down|status|env``: the local stack of real services, run as processes."""

from __future__ import annotations

import asyncio
import shlex
from enum import StrEnum
from typing import Annotated

import typer

from cli import _output as out
from cli._config import load_settings, with_env
from infra.kafka import ensure_topics
from infra.settings import Settings
from infra.stack import KafkaImpl, LocalStack, RunningComponents, StackPorts

stack_app = typer.Typer(
    help="The local stack (Kafka, MongoDB-compatible FerretDB, Redis, anvil) as processes.",
    no_args_is_help=True,
)


class KafkaChoice(StrEnum):
    auto = "auto"
    kafka = "kafka"
    tansu = "tansu"


_IMPLS: dict[KafkaChoice, KafkaImpl] = {
    KafkaChoice.auto: "auto",
    KafkaChoice.kafka: "kafka",
    KafkaChoice.tansu: "tansu",
}

KafkaOpt = Annotated[
    KafkaChoice,
    typer.Option(
        "--kafka",
        help="Kafka implementation: Apache Kafka (Java 17+), Tansu (memory only), or auto.",
    ),
]
FreePortsOpt = Annotated[
    bool,
    typer.Option(
        "--free-ports",
        help='Listen on free ports instead of 9092/27017/6379 (then: eval "$(ixo stack env)").',
    ),
]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for every service to answer.")]
BrokersOpt = Annotated[
    int | None,
    typer.Option(
        "--brokers",
        min=1,
        max=9,
        help="Kafka brokers (KRaft, each also a controller); from 3, topics are replicated 3 "
        "times with min.insync.replicas=2. Default: what the stack was made with, else 1.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]


def start_stack(
    settings: Settings,
    kafka: KafkaChoice,
    *,
    free_ports: bool,
    timeout: float,
    brokers: int | None = None,
) -> tuple[LocalStack, Settings]:
    """Start (or find running) the stack under ``settings.state_dir`` and create the topics.

    Returns the stack and the settings that point at it.
    """
    stack = LocalStack(
        settings.state_dir,
        StackPorts.free(brokers or 1) if free_ports else None,
        kafka_impl=_IMPLS[kafka],
        progress=out.step,
        anvil_block_time_s=settings.anvil_block_time_s,
        brokers=brokers,
    )
    stack.up(timeout=timeout)
    stack_settings = with_env(stack.env())
    created = asyncio.run(ensure_topics(stack_settings))
    if created:
        out.step(f"topics: created {len(created)} ({stack_settings.kafka_bootstrap})")
    else:
        out.step("topics: every catalogue topic exists")
    return stack, stack_settings


def export_lines(env: dict[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]


@stack_app.command("up")
def stack_up(
    kafka: KafkaOpt = KafkaChoice.auto,
    free_ports: FreePortsOpt = False,
    timeout: TimeoutOpt = 180.0,
    brokers: BrokersOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Start the stack (installing what is missing, cached), create the topics, print settings."""
    settings = load_settings()
    stack, _ = start_stack(settings, kafka, free_ports=free_ports, timeout=timeout, brokers=brokers)
    env = stack.env()
    if json_:
        out.emit_json({"kafka_impl": stack.kafka_impl_used, "env": env})
        return
    out.table(["setting", "value"], sorted(env.items()), title=f"stack ({stack.kafka_impl_used})")
    out.note('use it from a shell: eval "$(ixo stack env)"   stop it: ixo stack down')


@stack_app.command("down")
def stack_down() -> None:
    """Stop the stack's services (SIGTERM, then SIGKILL); their data is kept."""
    settings = load_settings()
    LocalStack(settings.state_dir, progress=out.step).down()


@stack_app.command("status")
def stack_status(json_: JsonOpt = False) -> None:
    """Each service, and each component `ixo up` runs: running or not, pid, address, what it is."""
    settings = load_settings()
    statuses = [
        *LocalStack(settings.state_dir).status(),
        *RunningComponents(settings.state_dir).statuses(),
    ]
    if json_:
        out.emit_json(
            [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "running": s.running,
                    "pid": s.pid,
                    "address": s.address,
                    "detail": s.detail,
                }
                for s in statuses
            ]
        )
        return
    rows = [
        [
            s.name,
            out.styled("running", "green") if s.running else out.styled("stopped", "red"),
            s.pid,
            s.address,
            s.detail,
        ]
        for s in statuses
    ]
    out.table(["name", "state", "pid", "address", "detail"], rows, right=["pid"])
    if not any(s.kind == "component" for s in statuses):
        out.note("no components recorded: `ixo up` runs them and lists them here")


@stack_app.command("env")
def stack_env(json_: JsonOpt = False) -> None:
    """Print the settings that point at the stack: eval "$(ixo stack env)"."""
    settings = load_settings()
    stack = LocalStack(settings.state_dir)
    env = stack.env()
    if not any(s.running for s in stack.status()):
        out.warn(f"the stack in {settings.state_dir} is not running (ixo stack up)")
    if json_:
        out.emit_json(env)
        return
    for line in export_lines(env):
        out.write_line(line)
