"""A fuzzer (schemathesis) against the real gateway on the real stack: for each operation of its
``/openapi.json``, generated requests (valid and invalid) must get no 5xx, only documented
statuses, and bodies and content types matching the document.

The two SSE streams are left out (a 200 stream never ends, so a generated call would hang);
their statuses are checked by ``test_gateway_openapi.py``. The run is bounded by
``MAX_EXAMPLES`` per operation.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from redis.asyncio import Redis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infra.kafka import EventPublisher, ensure_topics, make_broker
from infra.settings import Settings
from infra.stack.standins import LocalServer
from producers.gateway import create_app
from tests.fakes import WordOverlapKnowledge
from tests.integration._linking import identity_service

MAX_EXAMPLES = 15
STREAMS = r"^/v1/(chat/\{session_id\}/events|topics/\{topic\}/tail)$"
SEEN: defaultdict[str, set[int]] = defaultdict(set)
"""The statuses each operation answered during the run."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
async def fuzz_settings(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """One isolated deployment for the whole run (the rate limit out of the fuzzer's way)."""
    run = uuid.uuid4().hex[:10]
    settings = Settings(
        kafka_bootstrap=stack_env["IXO_KAFKA_BOOTSTRAP"],
        mongodb_url=stack_env["IXO_MONGODB_URL"],
        redis_url=stack_env["IXO_REDIS_URL"],
        mongodb_database=f"ixo_test_{run}",
        topic_prefix=f"t{run}.",
        state_dir=Path(tmp_path_factory.mktemp("fuzz")) / "state",
        kafka_linger_ms=1,
        gateway_rate_per_s=1e6,
        gateway_burst=1_000_000,
    )
    await ensure_topics(settings)
    return settings


@pytest.fixture(scope="module")
async def operator_headers(fuzz_settings: Settings) -> AsyncIterator[dict[str, str]]:
    """An operator's bearer header on this deployment, so the fuzzer gets past authentication
    to the routes themselves (the anonymous 401s are ``test_gateway_openapi.py``'s)."""
    broker = make_broker(fuzz_settings, client_id="ixo-test")
    await broker.connect()
    redis = Redis.from_url(fuzz_settings.redis_url)
    try:
        publisher = EventPublisher(broker, fuzz_settings)
        async with identity_service(fuzz_settings, publisher, redis) as identity:
            await identity.ensure_user("ops")
            token = await identity.create_token("ops", ("user", "operator"), name="fuzz")
        yield {"Authorization": f"Bearer {token.token}"}
    finally:
        await redis.aclose()
        await broker.stop()


@pytest.fixture(scope="module")
def fuzz_gateway(fuzz_settings: Settings) -> Iterator[LocalServer]:
    """The gateway in a thread of its own: the fuzzer's calls are blocking. Its knowledge store
    is an empty one (without any, a search is a deliberate 503)."""
    app = create_app(fuzz_settings, knowledge=WordOverlapKnowledge())
    with LocalServer(app, lifespan="on", name="gateway") as server:
        yield server


# The document is the app's own (it does not depend on the settings); the calls go to the real
# gateway above. (``schemathesis.pytest.from_fixture`` would fetch it from the served app, but
# fails under pytest 9: it sets ``Function._nodeid``, which pytest 9 no longer has.)
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi()).exclude(
    path_regex=STREAMS
)


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_gateway_answers_only_what_its_document_says(
    case: schemathesis.Case, fuzz_gateway: LocalServer, operator_headers: dict[str, str]
) -> None:
    response = case.call_and_validate(
        base_url=fuzz_gateway.url, headers=operator_headers, checks=CHECKS, timeout=30
    )
    SEEN[case.operation.label].add(response.status_code)


def test_the_fuzzer_got_past_authentication_to_the_routes() -> None:
    """Guards the run above against passing vacuously (every call a 401, say)."""
    if not SEEN:
        pytest.skip("runs after test_gateway_answers_only_what_its_document_says")
    # every operation of the document was fuzzed (under pytest-xdist too, where schemathesis's
    # items share one node id and are reported as one)
    assert set(SEEN) == {result.ok().label for result in schema.get_all_operations()}
    gate = {401, 403, 405}  # refused at the door (405: the router, for a method it lacks)
    stopped = {label: sorted(statuses) for label, statuses in SEEN.items() if statuses <= gate}
    assert stopped == {}
    assert any(s < 300 for statuses in SEEN.values() for s in statuses)
