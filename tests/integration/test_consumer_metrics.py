"""Every consumer's Prometheus metrics: records processed, failed attempts, dead letters by error
type, handler latency and lag, counted by the shared consumer on real Kafka; and a component's
``/metrics`` endpoint (``ixo run projector``) serving them over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from prometheus_client import REGISTRY

from infra.kafka import Delivery, EventPublisher, make_broker, record_headers, subscribe
from infra.settings import Settings
from infra.stack.standins import free_port
from schemas import MARKET_TICKS, CloudEvent, MarketTickV1
from tests._kafka import eventually, running


def tick(symbol: str, price: str) -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(symbol=symbol, price=Decimal(price), venue="test", ts=datetime.now(UTC))
    return CloudEvent.new(data, source="/tests")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_consumer_counts_records_failures_dead_letters_latency_and_lag(
    settings: Settings, publisher: EventPublisher
) -> None:
    group = settings.group("ixo.tests.metrics")
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    handled: list[str] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        if any(d.event.data.symbol == "BADUSDT" for d in batch):
            msg = "this symbol always fails"
            raise RuntimeError(msg)
        handled.extend(d.event.id for d in batch)

    broker = make_broker(settings, client_id="ixo-test-metrics")
    subscribe(broker, settings, MARKET_TICKS, group="ixo.tests.metrics", handler=handle)
    good = [tick("BTCUSDT", "1"), tick("ETHUSDT", "2"), tick("SOLUSDT", "3")]
    async with running(broker_app(broker)):
        metas = await publisher.publish_many([*good, tick("BADUSDT", "4")])
        meta = await (
            await publisher.send_raw(
                topic, b"not json", key=b"BTCUSDT", headers=record_headers(good[0])
            )
        )
        assert meta.offset >= 0

        async def counted() -> bool:
            return (
                sample("ixo_consumer_records_total", group=group, topic=topic) == len(good)
                and sample(
                    "ixo_consumer_dead_lettered_total",
                    group=group,
                    topic=topic,
                    error_type="handler_failed",
                )
                == 1
                and sample(
                    "ixo_consumer_dead_lettered_total",
                    group=group,
                    topic=topic,
                    error_type="not_json",
                )
                == 1
            )

        await eventually(counted, timeout=60)
    assert sorted(handled) == sorted(e.id for e in good)
    # The poison record failed its attempts alone (3) and in its batch at least once.
    assert sample("ixo_consumer_failed_records_total", group=group, topic=topic, kind="error") >= 3
    assert sample("ixo_consumer_handler_seconds_count", group=group, topic=topic) >= 4
    assert sample("ixo_consumer_batch_records_sum", group=group, topic=topic) == len(good) + 2
    # Caught up: each partition it read is 0 records and 0 seconds behind (set, not absent).
    for partition in {m.partition for m in metas}:
        labels = {"group": group, "topic": topic, "partition": str(partition)}
        assert REGISTRY.get_sample_value("ixo_consumer_lag", labels) == 0.0
        assert REGISTRY.get_sample_value("ixo_consumer_lag_seconds", labels) == 0.0


def broker_app(broker: object) -> object:
    from faststream import FastStream

    return FastStream(broker)  # type: ignore[arg-type]


async def test_ixo_run_serves_the_components_metrics_on_its_port(
    settings: Settings, settings_env: dict[str, str], publisher: EventPublisher
) -> None:
    port = free_port()
    env = {**settings_env, "IXO_METRICS_PORT": str(port), "IXO_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "run",
        "projector",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    group = settings.group("ixo.projector.prices")
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    wanted = f'ixo_consumer_records_total{{group="{group}",topic="{topic}"}} 1.0'
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def serving() -> bool:
                try:
                    return (await client.get("/metrics")).status_code == 200
                except httpx.TransportError:
                    assert process.returncode is None, "ixo run projector exited"
                    return False

            await eventually(serving, timeout=60)
            await publisher.publish(tick("BTCUSDT", "5"))

            async def counted() -> str:
                text = (await client.get("/metrics")).text
                return text if wanted in text else ""

            text = await eventually(counted, timeout=90)
        assert "ixo_consumer_handler_seconds_bucket" in text
        assert "process_cpu_seconds_total" in text  # the process's own metrics too
        # Another process asking for the same port is told so in one line.
        busy = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli",
            "run",
            "projector",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(busy.communicate(), 60)
        assert busy.returncode == 1
        assert f"IXO_METRICS_PORT {port} is in use" in err.decode()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def test_opentelemetry_traces_publish_and_consume_when_enabled(
    settings: Settings, topics: None
) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from infra.tracing import tracer_provider

    assert not make_broker(settings, client_id="ixo-otel-off").middlewares  # off by default
    traced = settings.model_copy(update={"otel_enabled": True, "otel_endpoint": ""})
    spans = InMemorySpanExporter()
    client_id = f"ixo-otel-{settings.topic_prefix}"
    tracer_provider(traced, f"impressox.{client_id}").add_span_processor(SimpleSpanProcessor(spans))
    seen: list[Delivery] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        seen.extend(batch)

    broker = make_broker(traced, client_id=client_id)
    subscribe(broker, traced, MARKET_TICKS, group="ixo.tests.otel", handler=handle)
    async with running(broker_app(broker)):
        await EventPublisher(broker, traced).publish(tick("BTCUSDT", "6"))
        await eventually(lambda: asyncio.sleep(0, bool(seen)), timeout=60)
    assert seen[0].event.data.price == Decimal(6)
    topic = MARKET_TICKS.full_name(settings.topic_prefix)
    finished = spans.get_finished_spans()
    kinds = {
        (s.kind.name, (s.attributes or {}).get("messaging.destination.name")) for s in finished
    }
    assert ("PRODUCER", topic) in kinds, kinds
    assert any(kind == "CONSUMER" for kind, _ in kinds), kinds
    # The consumer's span continues the producer's trace (the context rode in the headers).
    producer = next(s for s in finished if s.kind.name == "PRODUCER")
    consumer = [s for s in finished if s.kind.name == "CONSUMER"]
    assert any(s.context.trace_id == producer.context.trace_id for s in consumer) or any(
        link.context.trace_id == producer.context.trace_id for s in consumer for link in s.links
    )
