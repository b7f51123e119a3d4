"""The ``containers`` flavour of the test stack: official images through testcontainers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def containers_env() -> Iterator[dict[str, str]]:
    """Kafka (KRaft), FerretDB (SQLite) and Redis containers; needs a Docker engine."""
    try:
        from testcontainers.core.container import DockerContainer
        from testcontainers.kafka import KafkaContainer
        from testcontainers.redis import RedisContainer
    except ImportError:
        pytest.fail("IXO_TEST_STACK=containers needs: pip install 'impressox[containers]'")
    with (
        KafkaContainer("apache/kafka:4.1.0").with_kraft() as kafka,
        RedisContainer("redis:7.4") as redis,
        DockerContainer("ghcr.io/ferretdb/ferretdb:1.24.0")
        .with_env("FERRETDB_HANDLER", "sqlite")
        .with_exposed_ports(27017) as ferret,
    ):
        host = ferret.get_container_host_ip()
        yield {
            "IXO_KAFKA_BOOTSTRAP": kafka.get_bootstrap_server(),
            "IXO_MONGODB_URL": f"mongodb://{host}:{ferret.get_exposed_port(27017)}/",
            "IXO_REDIS_URL": (
                f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
            ),
        }
