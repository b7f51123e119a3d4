"""Every consumer app documents itself offline: ``faststream docs gen --factory
consumers.<app>.app:build_app`` builds the app from the environment's settings (no argument) and
writes its AsyncAPI document, with Kafka, Redis and MongoDB pointing at ports nothing listens
on: building an app contacts no service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.notifier.app import GROUP_ALERTS, GROUP_RULES, GROUP_SUBSCRIPTIONS
from consumers.orchestrator.app import GROUP as GROUP_CHAT
from consumers.projector import PROJECTIONS
from consumers.projector.app import GROUP_PREFIX
from consumers.rule_engine.app import GROUP_RULES as ENGINE_RULES
from consumers.rule_engine.app import GROUP_TICKS
from consumers.scheduler.app import GROUP_WORKERS
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    CHAT_REQUESTS,
    MARKET_TICKS,
    NOTIFY_SUBSCRIPTIONS,
    TASKS_DUE,
)

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = {
    "IXO_KAFKA_BOOTSTRAP": "127.0.0.1:9",
    "IXO_REDIS_URL": "redis://127.0.0.1:9/0",
    "IXO_MONGODB_URL": "mongodb://127.0.0.1:9/",
    "IXO_TOPIC_PREFIX": "docs.",
}

EXPECTED: dict[str, set[str]] = {
    "projector": {f"{GROUP_PREFIX}{p.name}:{p.topic.name}" for p in PROJECTIONS.values()},
    "rule_engine": {
        f"{ENGINE_RULES}:{ALERT_RULES.name}",
        f"{GROUP_TICKS}:{MARKET_TICKS.name}",
    },
    "notifier": {
        f"{GROUP_RULES}:{ALERT_RULES.name}",
        f"{GROUP_SUBSCRIPTIONS}:{NOTIFY_SUBSCRIPTIONS.name}",
        f"{GROUP_ALERTS}:{ALERT_MATCHES.name}",
    },
    "scheduler": {f"{GROUP_WORKERS}{TASKS_DUE.name}:{TASKS_DUE.name}"},
    "orchestrator": {f"{GROUP_CHAT}:{CHAT_REQUESTS.name}"},
}


@pytest.mark.parametrize("app", sorted(EXPECTED))
def test_docs_gen_builds_each_app_from_the_environment(app: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IXO_")}
    env.update(NOWHERE, IXO_STATE_DIR=str(tmp_path / "state"))
    out = tmp_path / f"{app}.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "faststream",
            "docs",
            "gen",
            "--factory",
            f"consumers.{app}.app:build_app",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["asyncapi"].startswith("3.")
    assert set(document["channels"]) >= EXPECTED[app]
    # The channels are the prefixed topics of the environment's deployment.
    addresses = {c["address"] for c in document["channels"].values()}
    assert all(a.startswith("docs.") for a in addresses), addresses
