"""The projector on real Kafka and FerretDB: idempotent under redelivery, rebuilt by replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from faststream import FastStream
from pymongo.asynchronous.database import AsyncDatabase

from consumers.projector import (
    PricesProjection,
    ProjectionStore,
    newest,
    replay,
)
from consumers.projector.app import GROUP_PREFIX, build_app
from infra.kafka import Delivery, EventPublisher, make_broker, offsets_consumer
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from readmodels import READ_MODELS
from schemas import MARKET_TICKS, CloudEvent, MarketTickV1, codec_for
from tests._cli import aixo
from tests._kafka import eventually, group_caught_up, read_topic, rewind, wait_assigned

T0 = datetime(2026, 11, 24, tzinfo=UTC)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "XRPUSDT")


def tick(symbol: str, second: int, price: str) -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(
        symbol=symbol, price=Decimal(price), venue="test", ts=T0 + timedelta(seconds=second)
    )
    return CloudEvent.new(data, source="/tests")


def ticks(count: int, start: int = 0) -> list[CloudEvent[MarketTickV1]]:
    # Out-of-order exchange times inside each symbol: the newest ts must win, not the last record.
    out = []
    for i in range(start, start + count):
        second = i if i % 7 else i - 5
        out.append(tick(SYMBOLS[i % len(SYMBOLS)], second, f"{100 + i}.5"))
    return out


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client = mongo_client(settings)
    database = await open_database(settings, client, documents=READ_MODELS)
    yield database
    await client.drop_database(settings.mongodb_database)
    await client.close()


async def prices(db: AsyncDatabase[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc async for doc in db["prices"].find({})}


async def expected_prices(settings: Settings) -> dict[str, dict[str, Any]]:
    """The fold computed straight from the topic, without the projector."""
    codec = codec_for(MARKET_TICKS)
    deliveries = [
        Delivery(codec.decode(r.value), r.topic, r.partition, r.offset, r.timestamp)
        for r in await read_topic(settings, MARKET_TICKS)
    ]
    rows = newest(PricesProjection().rows(deliveries))
    return {r.key: r.doc for r in rows}


def comparable(docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Documents as a reader sees them: datetimes in UTC, an absent field the same as None."""
    return {
        k: {
            f: (v.astimezone(UTC) if isinstance(v, datetime) else v)
            for f, v in d.items()
            if v is not None
        }
        for k, d in docs.items()
    }


async def publish(settings: Settings, events: list[CloudEvent[MarketTickV1]]) -> None:
    producer = make_broker(settings)
    await producer.start()
    try:
        await EventPublisher(producer, settings).publish_many(events)
    finally:
        await producer.stop()


async def running(app: FastStream) -> FastStream:
    await app.start()
    assert app.broker is not None
    await wait_assigned(app.broker)  # type: ignore[arg-type]
    return app


async def caught_up(settings: Settings) -> bool:
    """The projector's group has committed every record of the ticks topic."""
    return await group_caught_up(settings, MARKET_TICKS, GROUP_PREFIX + "prices")


async def test_store_apply_is_idempotent_and_order_independent(
    settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    store = ProjectionStore(db)
    topic = "ticks-topic"
    deliveries = [Delivery(e, topic, i % 2, i, 0) for i, e in enumerate(ticks(40))]
    projection = PricesProjection()
    await store.apply(projection, deliveries, topic=topic)
    first = await prices(db)
    await store.apply(projection, deliveries, topic=topic)  # redelivered as is
    assert await prices(db) == first
    # Without watermarks (what replay does), in reverse order, twice: the max-fold converges.
    for _ in range(2):
        await store.apply(projection, deliveries[::-1], topic=topic, use_watermarks=False)
    assert await prices(db) == first
    assert len(first) == len(SYMBOLS)
    expected = {r.key: r.doc for r in newest(projection.rows(deliveries))}
    assert comparable(first) == comparable(expected)


async def test_projector_is_idempotent_when_events_are_delivered_twice(
    settings: Settings, topics: None, db: AsyncDatabase[dict[str, Any]]
) -> None:
    await publish(settings, ticks(60))
    app = await running(build_app(settings))
    try:
        await eventually(lambda: caught_up(settings))
    finally:
        await app.stop()
    first = await prices(db)
    assert comparable(first) == comparable(await expected_prices(settings))

    # Rewind the group: every event is delivered a second time.
    await rewind(settings, MARKET_TICKS, GROUP_PREFIX + "prices")
    assert not await caught_up(settings)
    app = await running(build_app(settings))
    try:
        await eventually(lambda: caught_up(settings))
    finally:
        await app.stop()
    assert await prices(db) == first


async def test_replay_rebuilds_the_read_model_exactly_while_the_live_projector_runs(
    settings: Settings, topics: None, db: AsyncDatabase[dict[str, Any]]
) -> None:
    await publish(settings, ticks(300))
    app = await running(build_app(settings))
    store = ProjectionStore(db)
    try:
        await eventually(lambda: caught_up(settings))
        live = await prices(db)
        # Damage the read model: replay must repair it from the log.
        await db["prices"].update_one({"_id": "BTCUSDT"}, {"$set": {"price": "0"}})
        progress: list[tuple[int, int]] = []
        async with offsets_consumer(settings) as consumer:
            await consumer._client.force_metadata_update()
            topic = MARKET_TICKS.full_name(settings.topic_prefix)
            # More ticks arrive while the replay runs; the live projector handles them.
            more = asyncio.create_task(publish(settings, ticks(100, start=300)))
            result = await replay(
                store,
                PricesProjection(),
                consumer,
                topic,
                progress=lambda d, t: progress.append((d, t)),
            )
            await more
        assert result.swapped
        assert result.records >= 300
        assert result.invalid == 0
        assert progress
        assert progress[-1][0] == result.records
        await eventually(lambda: caught_up(settings))
        after = await prices(db)
    finally:
        await app.stop()
    expected = await expected_prices(settings)
    assert comparable(after) == comparable(expected)
    assert after["BTCUSDT"]["price"] != "0"
    assert set(live) == set(after)
    names = await db.list_collection_names()
    assert not [n for n in names if "__replay_" in n]

    # Twice gives the same result.
    async with offsets_consumer(settings) as consumer:
        await consumer._client.force_metadata_update()
        again = await replay(store, PricesProjection(), consumer, topic)
    assert again.records == 400
    assert comparable(await prices(db)) == comparable(expected)

    # A window of one key: a symbol met again after its row was inserted (every one of them,
    # the symbols take turns) goes through the duplicate-key fallback, the conditional upsert
    # of the live path. Still the same result.
    async with offsets_consumer(settings) as consumer:
        await consumer._client.force_metadata_update()
        narrow = await replay(store, PricesProjection(), consumer, topic, window=1)
    assert narrow.records == 400
    assert comparable(await prices(db)) == comparable(expected)


async def test_ixo_replay_of_an_empty_topic_builds_an_empty_read_model(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    """Nothing retained yet (a new deployment): the replay reads nothing and still swaps in
    an empty collection, with a table of zeros, not a traceback."""
    done = await aixo(settings_env, "replay", "prices", "--from-beginning", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["projection"] == "prices"
    assert result["records"] == 0
    assert result["invalid"] == 0
    assert result["swapped"] is True
