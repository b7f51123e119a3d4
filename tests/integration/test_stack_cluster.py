"""`ixo stack up --brokers 3`: a three-broker Apache Kafka cluster (KRaft, every node broker and
controller) in its own state dir and ports. The catalogue topics are created with replication
factor 3 and min.insync.replicas=2; a write with acks=all goes on with one broker killed, and the
broker rejoins the in-sync replicas when the stack is brought up again. A state dir made with
one broker count refuses another."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from cli._config import with_env
from infra.kafka import EventPublisher, ensure_topics, make_broker
from infra.settings import Settings
from infra.stack import LocalStack, StackError, StackPorts
from infra.stack._process import read_pid
from schemas import MARKET_TICKS, CloudEvent, MarketTickV1
from tests._kafka import eventually, read_topic


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("cluster") / "state"
    stack = LocalStack(state, StackPorts.free(3), kafka_impl="kafka", chain=False, brokers=3)
    try:
        stack.up(timeout=300)
        yield stack
    finally:
        stack.down()


def cluster_settings(stack: LocalStack) -> Settings:
    base = with_env(stack.env())
    return base.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:8]}."})


def tick(i: int) -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(
        symbol="BTCUSDT", price=Decimal(60000 + i), venue="test", ts=datetime.now(UTC)
    )
    return CloudEvent.new(data, source="/tests/cluster")


async def replica_sets(settings: Settings, topic: str) -> list[tuple[int, int]]:
    """(replicas, in-sync replicas) of each partition of ``topic``; [] when the cluster cannot
    say now (a request may reach the broker that was just killed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:
        await admin.start()
        (described,) = await admin.describe_topics([topic])
        return [(len(p["replicas"]), len(p["isr"])) for p in described["partitions"]]
    except KafkaError:
        return []
    finally:
        await admin.close()


async def min_insync(settings: Settings, topic: str) -> str:
    """The topic's min.insync.replicas; "" while the broker asked answers with an error (it may
    not know the topic yet: each broker learns of a create from the controller a moment later)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
        for resource in response.resources:
            if resource[0] != 0:  # error code, e.g. UNKNOWN_TOPIC_OR_PARTITION on that broker
                return ""
            for entry in resource[4]:
                if entry[0] == "min.insync.replicas":
                    return str(entry[1])
        return ""
    finally:
        await admin.close()


async def test_three_brokers_replicate_and_survive_one_down(cluster: LocalStack) -> None:
    env = cluster.env()
    assert len(env["IXO_KAFKA_BOOTSTRAP"].split(",")) == 3
    assert env["IXO_KAFKA__REPLICATION_FACTOR"] == "3"
    assert env["IXO_KAFKA__MIN_INSYNC_REPLICAS"] == "2"
    settings = cluster_settings(cluster)
    await ensure_topics(settings, [MARKET_TICKS, MARKET_TICKS.dlq])
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    all_in_sync = [(3, 3)] * MARKET_TICKS.partitions

    async def created() -> bool:  # metadata reaches every broker a moment after the create
        return await replica_sets(settings, topic) == all_in_sync

    await eventually(created, timeout=30, interval=0.5)
    assert await eventually(lambda: min_insync(settings, topic), timeout=30, interval=0.5) == "2"

    producer = make_broker(settings, client_id="test-cluster")
    await producer.start()
    try:
        publisher = EventPublisher(producer, settings)
        await publisher.publish_many([tick(i) for i in range(20)])

        # kill -9 the third broker: acks=all writes still succeed with 2 in-sync replicas
        pid = read_pid(cluster.state_dir / "run" / "kafka-3.pid")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)

        async def third_out_of_sync() -> bool:
            return all(isr == 2 for _, isr in await replica_sets(settings, topic))

        await eventually(third_out_of_sync, timeout=90, interval=1.0)
        await asyncio.wait_for(publisher.publish_many([tick(i) for i in range(20, 40)]), 60)
    finally:
        await producer.stop()

    assert len(await read_topic(settings, MARKET_TICKS)) == 40

    await asyncio.to_thread(cluster.up, 300)  # starts the killed broker again

    async def back_in_sync() -> bool:
        return await replica_sets(settings, topic) == all_in_sync

    await eventually(back_in_sync, timeout=120, interval=1.0)


def test_a_state_dir_keeps_its_broker_count(cluster: LocalStack) -> None:
    with pytest.raises(StackError, match="was made with 3 Kafka brokers, not 1"):
        LocalStack(cluster.state_dir, brokers=1)
    assert LocalStack(cluster.state_dir).brokers == 3  # found again from its state


def test_tansu_is_one_broker_only(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "state", StackPorts.free(3), kafka_impl="tansu", brokers=3)
    with pytest.raises(StackError, match="Tansu runs one broker only"):
        stack._services("tansu", chain=False)
