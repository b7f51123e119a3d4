"""The ``containers`` flavour of the test stack: official images through testcontainers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def containers_env() -> Iterator[dict[str, str]]:
    """Kafka (KRaft), FerretDB (SQLite), Redis and Qdrant containers; needs a Docker engine.
    With a Qdrant server, every process (tests included) talks to it (``IXO_QDRANT_URL``)."""
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
        DockerContainer("qdrant/qdrant:v1.20.0").with_exposed_ports(6333) as qdrant,
    ):
        host = ferret.get_container_host_ip()
        yield {
            "IXO_KAFKA_BOOTSTRAP": kafka.get_bootstrap_server(),
            "IXO_MONGODB_URL": f"mongodb://{host}:{ferret.get_exposed_port(27017)}/",
            "IXO_REDIS_URL": (
                f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
            ),
            "IXO_QDRANT_URL": (
                f"http://{qdrant.get_container_host_ip()}:{qdrant.get_exposed_port(6333)}"
            ),
        }
