"""Session fixtures: one real stack (Kafka, FerretDB, Redis) per test session, on free ports.

``IXO_TEST_STACK`` chooses how it is provided:
- ``process`` (default): :class:`infra.stack.LocalStack` starts real servers as processes in a
  temporary state directory (installs are cached between runs);
- ``containers``: the same services from official images through testcontainers (needs a Docker
  engine; ``pip install 'impressox[containers]'``);
- ``external``: use the services the ``IXO_*`` variables already point at.

Each test then gets its own topic prefix, consumer groups and database, so tests never see each
other's data while the stack starts once.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from infra.settings import Settings
from tests._kafka import drop_topics
from tests._stack import containers_env
from tests.faults._report import LEGEND, Row, rows_of, table

TEST_ALLOWED_NETWORKS = "127.0.0.0/8,::1/128"
STACK_ENV_KEYS = ("IXO_KAFKA_BOOTSTRAP", "IXO_MONGODB_URL", "IXO_REDIS_URL")


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """Connection settings of the session's real services."""
    mode = os.environ.get("IXO_TEST_STACK", "process")
    if mode == "external":
        missing = [k for k in STACK_ENV_KEYS if not os.environ.get(k)]
        if missing:
            pytest.fail(f"IXO_TEST_STACK=external needs {', '.join(missing)}")
        yield {k: os.environ[k] for k in STACK_ENV_KEYS}
        return
    if mode == "containers":
        with containers_env() as env:
            yield env
        return
    from infra.stack import LocalStack, StackPorts

    with tempfile.TemporaryDirectory(prefix="ixo-test-stack-") as tmp:
        stack = LocalStack(Path(tmp), StackPorts.free())
        stack.up()
        try:
            yield stack.env()
        finally:
            stack.down()


@pytest.fixture
def test_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def settings(stack_env: dict[str, str], test_id: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings isolated for one test: own topic prefix, consumer groups and database. The
    test's topics are deleted afterwards (a broker keeps ~3 open files per partition: a suite
    that left every test's topics behind would run Kafka out of file descriptors)."""
    made = Settings(
        kafka_bootstrap=stack_env["IXO_KAFKA_BOOTSTRAP"],
        mongodb_url=stack_env["IXO_MONGODB_URL"],
        redis_url=stack_env["IXO_REDIS_URL"],
        mongodb_database=f"ixo_test_{test_id}",
        topic_prefix=f"t{test_id}.",
        state_dir=tmp_path / "state",
        kafka_linger_ms=1,
        # Local receivers and stand-ins listen on loopback; webhook secrets under a fresh key.
        webhook_allowed_networks=TEST_ALLOWED_NETWORKS,
        secrets_keys=SecretStr(Fernet.generate_key().decode()),
    )
    yield made
    drop_topics(made)


@pytest.fixture
def settings_env(settings: Settings) -> dict[str, str]:
    """The isolated settings as ``IXO_*`` environment variables (for CLI subprocesses)."""
    env = dict(os.environ)
    env.update(
        {
            "IXO_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "IXO_MONGODB_URL": settings.mongodb_url,
            "IXO_MONGODB_DATABASE": settings.mongodb_database,
            "IXO_REDIS_URL": settings.redis_url,
            "IXO_TOPIC_PREFIX": settings.topic_prefix,
            "IXO_STATE_DIR": str(settings.state_dir),
            "IXO_WEBHOOK_ALLOWED_NETWORKS": settings.webhook_allowed_networks,
            "IXO_SECRETS_KEYS": settings.secrets_keys.get_secret_value(),
        }
    )
    return env


@pytest.fixture
async def topics(settings: Settings) -> None:
    """Every catalogue topic (and DLQ) created under the test's prefix."""
    from infra.kafka import ensure_topics

    await ensure_topics(settings)


# -- the fault suite's table (tests/faults): rows travel on the test reports, so the table is
# printed by the process that prints the summary, with or without pytest-xdist workers

FAULT_ROWS: list[Row] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        FAULT_ROWS.extend(rows_of(report.user_properties))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FAULT_ROWS:
        terminalreporter.section("fault suite: faults injected, records in, alerts out")
        terminalreporter.write_line(table(FAULT_ROWS))
        terminalreporter.write_line(LEGEND)
