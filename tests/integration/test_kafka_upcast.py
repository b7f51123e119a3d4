"""Event evolution on real Kafka: a v1 record left on a compacted topic decodes as its v2.

The family is test-only (``ixo.test.meter.*``), on a compacted topic of its own under the test's
prefix: v2 renamed ``reading`` to ``value`` and added ``unit``; the v1 record was written before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from aiokafka.admin import NewTopic

from infra.kafka import Delivery, EventPublisher, admin_client, make_broker, subscribe
from infra.settings import Settings
from schemas import CloudEvent, EventCodec, EventData, Topic, Upcasters
from tests._kafka import eventually, read_topic, wait_assigned


class MeterReadV1(EventData):
    event_type: ClassVar[str] = "ixo.test.meter.read.v1"
    key_field: ClassVar[str] = "meter_id"
    meter_id: str
    reading: int


class MeterReadV2(EventData):
    event_type: ClassVar[str] = "ixo.test.meter.read.v2"
    key_field: ClassVar[str] = "meter_id"
    meter_id: str
    value: int
    unit: str


METERS_V1 = Topic("ixo.test.meters", "meter_id", (MeterReadV1,), partitions=2, compacted=True)
METERS = Topic("ixo.test.meters", "meter_id", (MeterReadV2,), partitions=2, compacted=True)


def upcasters() -> Upcasters:
    registry = Upcasters()

    @registry.upcaster("ixo.test.meter.read.v1")
    def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        return {"meter_id": data["meter_id"], "value": data["reading"], "unit": "kWh"}

    return registry


async def test_a_v1_record_on_a_compacted_topic_is_consumed_as_its_v2(settings: Settings) -> None:
    async with admin_client(settings) as admin:
        await admin.create_topics(
            [
                NewTopic(
                    t.full_name(settings.topic_prefix),
                    t.partitions,
                    1,
                    topic_configs=t.kafka_config(),
                )
                for t in (METERS, METERS.dlq)
            ]
        )
    old = CloudEvent.new(MeterReadV1(meter_id="m1", reading=42), source="/tests/old-writer")
    new = CloudEvent.new(MeterReadV2(meter_id="m2", value=7, unit="MWh"), source="/tests")

    # Written before the change, by code that knew v1 only.
    writer = make_broker(settings, client_id="test-old-writer")
    await writer.start()
    try:
        publisher = EventPublisher(writer, settings)
        await publisher.publish(old, METERS_V1)
        await publisher.publish(new, METERS)
    finally:
        await writer.stop()
    stored = {r.key: r.value for r in await read_topic(settings, METERS)}
    assert b'"type":"ixo.test.meter.read.v1"' in stored[b"m1"]  # the record itself is unchanged

    seen: list[Delivery] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        seen.extend(batch)

    codec = EventCodec(METERS, upcasters())
    reader = make_broker(settings, client_id="test-new-reader")
    subscribe(reader, settings, METERS, group="meters", handler=handle, codec=codec)
    try:
        await reader.start()
        await wait_assigned(reader)

        async def both() -> bool:
            return len(seen) >= 2

        await eventually(both)
    finally:
        await reader.stop()

    by_key = {d.event.subject: d.event for d in seen}
    assert set(by_key) == {"m1", "m2"}
    upcast = by_key["m1"]
    assert upcast.type == "ixo.test.meter.read.v2"
    assert upcast.data == MeterReadV2(meter_id="m1", value=42, unit="kWh")
    assert (upcast.id, upcast.source, upcast.time) == (old.id, old.source, old.time)
    assert by_key["m2"] == new
    assert await read_topic(settings, METERS.dlq) == []
