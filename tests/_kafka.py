"""Kafka helpers of the tests: read what a user would see (the records on a topic, a condition
coming true, a group caught up), publish events, run an app until its consumers are ready."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from faststream import FastStream
from faststream.kafka import KafkaBroker

from infra.kafka import EventPublisher, admin_client, make_broker, offsets_consumer
from infra.settings import Settings
from schemas import CloudEvent, Topic, header_map

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Call ``probe`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            msg = f"condition not met within {timeout}s (last value: {value!r})"
            raise AssertionError(msg)
        await asyncio.sleep(interval)


async def read_topic(settings: Settings, topic: Topic) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record currently on ``topic`` (under the settings' prefix), in partition order."""
    name = topic.full_name(settings.topic_prefix)
    out: list[ConsumerRecord[bytes, bytes]] = []
    async with offsets_consumer(settings) as consumer:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        end = await consumer.end_offsets(tps)
        todo = [tp for tp in tps if end[tp] > 0]
        if not todo:
            return out
        consumer.assign(todo)
        await consumer.seek_to_beginning(*todo)
        remaining = set(todo)
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(r for r in records if r.offset < end[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    return out


async def wait_assigned(broker: KafkaBroker, *, timeout: float = 30.0) -> None:
    """Wait until every subscriber of ``broker`` has partitions (a group join takes seconds)."""

    async def assigned() -> bool:
        subs: list[Any] = list(broker.subscribers)
        return all(s.consumer is not None and s.consumer.assignment() for s in subs)

    await eventually(assigned, timeout=timeout)


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    """A record's headers as text; legacy ``ce_type``/``ce_id`` under their current names."""
    return header_map(record.headers)


async def group_caught_up(settings: Settings, topic: Topic, group: str) -> bool:
    """The consumer group (prefixed) has committed every record of ``topic``."""
    from aiokafka import AIOKafkaConsumer

    name = topic.full_name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.group(group),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(name, p) for p in range(topic.partitions)]
        end = await consumer.end_offsets(tps)
        for tp in tps:
            if end[tp] and (await consumer.committed(tp) or 0) < end[tp]:
                return False
        return True
    finally:
        await consumer.stop()


async def rewind(settings: Settings, topic: Topic, group: str) -> None:
    """Commit offset 0 on every partition for ``group``: everything is delivered again."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import OffsetAndMetadata

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.group(group),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        name = topic.full_name(settings.topic_prefix)
        tps = [TopicPartition(name, p) for p in range(topic.partitions)]
        consumer.assign(tps)
        await consumer.commit({tp: OffsetAndMetadata(0, "") for tp in tps})
    finally:
        await consumer.stop()


async def events_on(settings: Settings, topic: Topic) -> list[dict[str, Any]]:
    """Every record of ``topic`` as its JSON (the CloudEvent a consumer would read)."""
    return [json.loads(r.value or b"null") for r in await read_topic(settings, topic)]


async def publish(settings: Settings, *events: CloudEvent[Any]) -> None:
    """Publish ``events`` as a producer would, returning once Kafka acknowledged them."""
    broker = make_broker(settings, client_id="ixo-test-publisher")
    await broker.connect()
    try:
        await EventPublisher(broker, settings).publish_many(events)
    finally:
        await broker.stop()


@asynccontextmanager
async def running(app: FastStream, *, ready: bool = True) -> AsyncIterator[FastStream]:
    """A FastStream app started for the block; with ``ready``, once its consumers have their
    partitions (a record published then is not missed by a group starting at the end)."""
    await app.start()
    try:
        if ready:
            assert isinstance(app.broker, KafkaBroker)
            await wait_assigned(app.broker)
        yield app
    finally:
        await stop_app(app)


async def stop_app(app: FastStream, timeout: float = 90.0) -> None:
    """``app.stop()``, bounded: a stop that hangs fails the test at once with every task's
    stack printed (to find what it waits for), instead of running into pytest-timeout."""
    try:
        await asyncio.wait_for(app.stop(), timeout)
    except TimeoutError:
        print(f"app.stop() did not return within {timeout:g} s; the tasks:")
        for task in asyncio.all_tasks():
            task.print_stack(limit=12)
        raise


def drop_topics(settings: Settings) -> None:
    """Delete every topic under the settings' prefix (from sync code: its own event loop, in a
    thread of its own, since a test's loop may still be running)."""
    if not settings.topic_prefix:
        return

    async def drop() -> None:
        async with admin_client(settings) as admin:
            mine = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
            if mine:
                await admin.delete_topics(mine)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pool.submit(asyncio.run, drop()).result(timeout=60)
        except Exception as exc:  # housekeeping: a test that broke Kafka on purpose
            warnings.warn(f"could not delete the test's topics: {exc}", stacklevel=2)
