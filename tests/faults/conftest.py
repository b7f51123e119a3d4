"""The fault suite's world: a three-broker Kafka cluster with its own FerretDB and Redis (a
LocalStack of its own, so restarting a service disturbs no other test), the Telegram stand-in the
notifier delivers to, and the pipeline's consumers each running as two processes
(`ixo run COMPONENT --replicas 2`). Started once for the suite (one module) and stopped after
it; a table of what was injected and what came out is printed at the end."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cli._config import with_env
from infra.kafka import ensure_topics
from infra.settings import Settings
from infra.stack import LocalStack, StackPorts
from infra.stack.standins import TelegramStandin
from tests.fakes import WebhookReceiver
from tests.faults._report import Report

COMPONENTS = ("rule-engine", "notifier", "projector")


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Report:
    """Where the test's scenario puts its row of the table."""
    assert isinstance(request.node, pytest.Item)
    return Report(request.node)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("faults") / "state"
    stack = LocalStack(state, StackPorts.free(3), kafka_impl="kafka", chain=False, brokers=3)
    try:
        stack.up(timeout=300)
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="module")
async def telegram() -> AsyncIterator[TelegramStandin]:
    async with TelegramStandin() as tg:
        yield tg


@dataclass
class Pipeline:
    """The consumers as `ixo run C --replicas 2` supervisors (each restarts a killed child)."""

    env: dict[str, str]
    logs: Path
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    async def start(
        self, names: tuple[str, ...] = COMPONENTS, *, replicas: int = 2, **env: str
    ) -> None:
        for name in names:
            log = (self.logs / f"{name}.log").open("ab")
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cli", "run", name, "--replicas", str(replicas),
                env={**self.env, **env}, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

    def workers(self, name: str) -> list[int]:
        parent = self.procs[name].pid
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
        return sorted(found)

    def kill_one(self, name: str) -> int:
        """kill -9 one process of ``name`` (its supervisor starts it again)."""
        victim = self.workers(name)[0]
        os.kill(victim, signal.SIGKILL)
        return victim

    async def stop(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            await asyncio.wait_for(proc.wait(), timeout=90)


@pytest.fixture(scope="module")
async def hooks() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver().serving() as receiver:
        yield receiver


@dataclass
class World:
    settings: Settings
    pipeline: Pipeline
    cluster: LocalStack
    telegram: TelegramStandin
    hooks: WebhookReceiver


@pytest.fixture(scope="module")
async def world(
    cluster: LocalStack,
    telegram: TelegramStandin,
    hooks: WebhookReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    env = {
        **os.environ,
        **cluster.env(),
        "IXO_TOPIC_PREFIX": "faults.",
        "IXO_TELEGRAM_TOKEN": telegram.token,
        "IXO_TELEGRAM_API_URL": telegram.url,
        "IXO_LOG_LEVEL": "WARNING",
        "IXO_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    settings = with_env({k: v for k, v in env.items() if k.startswith("IXO_")})
    await ensure_topics(settings)
    pipeline = Pipeline(env, tmp_path_factory.mktemp("logs"))
    await pipeline.start()
    try:
        yield World(settings, pipeline, cluster, telegram, hooks)
    finally:
        await pipeline.stop()
