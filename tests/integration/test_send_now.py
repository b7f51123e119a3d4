"""``EventPublisher.send_now`` on real Kafka: a whole batch leaves at once (not after the
producer's linger), each record on the partition ``send_raw`` gives its key, in order, with its
headers; a record the producer refuses is the same PermanentError as on ``send_raw``."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest

from infra.kafka import EventPublisher, OutRecord, make_broker
from infra.settings import Settings
from schemas import ALERT_MATCHES, PermanentError, TransientError
from tests._kafka import headers_of, read_topic

LINGER_MS = 3000


async def test_a_batch_is_acknowledged_without_waiting_out_the_linger(
    settings: Settings, topics: None
) -> None:
    lingering = settings.model_copy(update={"kafka_linger_ms": LINGER_MS})
    topic = ALERT_MATCHES.full_name(settings.topic_prefix)
    broker = make_broker(lingering)
    await broker.connect()
    try:
        publisher = EventPublisher(broker, lingering)
        # The premise: a record sent the usual way waits for the linger before it leaves.
        started = time.perf_counter()
        await (await publisher.send_raw(topic, b"warm", key="u0", headers={}))
        assert time.perf_counter() - started >= LINGER_MS / 1000 * 0.9

        keys = [f"u{i % 7}" for i in range(60)]
        records = [
            (key.encode(), f"{key}:{i}".encode(), {"x-n": f"e{i}"}) for i, key in enumerate(keys)
        ]
        started = time.perf_counter()
        futures = await publisher.send_now(topic, records)
        await asyncio.gather(*futures)
        took = time.perf_counter() - started
        # And for comparison, where send_raw puts each key (all in flight: one linger).
        distinct = sorted(set(keys))
        probes = [await publisher.send_raw(topic, b"probe", key=k, headers={}) for k in distinct]
        acked = await asyncio.gather(*probes)
        placed = {key: meta.partition for key, meta in zip(distinct, acked, strict=True)}
    finally:
        await broker.stop()
    assert took < LINGER_MS / 1000 / 2, f"the batch waited {took:.2f} s: the linger is 3 s"
    on_topic = [
        r for r in await read_topic(settings, ALERT_MATCHES) if r.value not in (b"warm", b"probe")
    ]
    assert len(on_topic) == len(records)
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    for record in sorted(on_topic, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None
        assert record.partition == placed[record.key.decode()]
        by_key[record.key].append(record.value or b"")
        assert headers_of(record)["x-n"] == f"e{int((record.value or b'').split(b':')[1])}"
    for key, values in by_key.items():
        assert values == [v for k, v, _ in records if k == key]  # in the order given


async def test_a_record_the_broker_refuses_fails_with_a_permanent_error_alone(
    settings: Settings, topics: None
) -> None:
    """The oversized record's batch fails; the record before it (a batch of its own, as the
    large one does not fit beside it) is on the topic."""
    topic = ALERT_MATCHES.full_name(settings.topic_prefix)
    broker = make_broker(settings)
    await broker.connect()
    try:
        publisher = EventPublisher(broker, settings)
        records: list[OutRecord] = [(b"u1", b"small", {}), (b"u1", b"x" * (2 * 1024 * 1024), {})]
        small, large = await publisher.send_now(topic, records)
        await small
        with pytest.raises(PermanentError, match="MessageSizeTooLarge"):
            await large
    finally:
        await broker.stop()
    assert [r.value for r in await read_topic(settings, ALERT_MATCHES)] == [b"small"]


async def test_before_the_broker_is_connected_it_is_a_transient_error(
    settings: Settings, topics: None
) -> None:
    publisher = EventPublisher(make_broker(settings), settings)
    with pytest.raises(TransientError):
        await publisher.send_now(ALERT_MATCHES.full_name(settings.topic_prefix), [(b"k", b"v", {})])
